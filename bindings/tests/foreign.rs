//! The generated bindings used from their own languages: the Python tests, a Kotlin program
//! compiled and run on the JVM, the Swift files checked to be there. `cargo run -p xtask --
//! test` generates the bindings and installs the Kotlin toolchain before this runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use doorstep_server::demo::Plan;
use doorstep_server::storage::Storage;
use doorstep_tests::{ServerProcess, seed, server_binary};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Where `cargo run -p xtask -- bindings` put the generated code.
fn generated(language: &str) -> PathBuf {
    let dir = target().join("bindings/debug").join(language);
    assert!(
        dir.exists(),
        "{} is missing: run `cargo run -p xtask -- bindings` first",
        dir.display()
    );
    dir
}

fn check(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    stdout
}

#[test]
fn python_app_flow_and_demo_app_against_a_real_server() {
    let output = Command::new("python3")
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(root().join("bindings/tests/python"))
        .env("DOORSTEP_BINDINGS", generated("python"))
        .env("DOORSTEP_BIN", server_binary())
        .output()
        .expect("start python3");
    // unittest reports on stderr; show it either way.
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    check("the Python tests", output);
}

#[test]
fn kotlin_program_records_and_syncs_on_the_jvm() {
    let kotlinc = target().join("kotlin/node_modules/kotlin-compiler/bin/kotlinc");
    assert!(
        kotlinc.exists(),
        "{} is missing: run `cargo run -p xtask -- setup`",
        kotlinc.display()
    );
    let jna = Path::new("/usr/share/java/jna.jar");
    assert!(
        jna.exists(),
        "JNA is missing: run `cargo run -p xtask -- setup`"
    );
    let work = tempfile::tempdir().unwrap();
    let jar = work.path().join("app.jar");
    let sources = generated("kotlin").join("org/doorstep/doorstep.kt");
    check(
        "compiling the Kotlin bindings and program",
        Command::new(&kotlinc)
            .arg(&sources)
            .arg(root().join("bindings/tests/kotlin/Main.kt"))
            .arg("-classpath")
            .arg(jna)
            .args(["-nowarn", "-include-runtime", "-d"])
            .arg(&jar)
            .output()
            .expect("start kotlinc"),
    );

    let db = work.path().join("server.db");
    let users = seed(&db, &Plan::default());
    let canvasser = users
        .iter()
        .find(|u| u.role.as_str() == "canvasser")
        .unwrap();
    let server = ServerProcess::start(&db);
    let phone = work.path().join("phone.db");
    let library_dir = generated("python"); // the library sits beside the Python module
    let stdout = check(
        "the Kotlin program",
        Command::new("java")
            .arg(format!("-Djna.library.path={}", library_dir.display()))
            .arg("-cp")
            .arg(format!("{}:{}", jar.display(), jna.display()))
            .arg("MainKt")
            .args([&server.url, &canvasser.token.secret])
            .arg(&phone)
            .arg("7")
            .output()
            .expect("start java"),
    );
    eprintln!("{stdout}");
    let ids: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("attempt "))
        .collect();
    assert_eq!(ids.len(), 7, "{stdout}");
    assert!(stdout.contains("unsynced before sync: 7"), "{stdout}");
    assert!(stdout.contains("unsynced after sync: 0"), "{stdout}");
    assert!(stdout.contains("not found: "), "{stdout}");

    let results = server.storage().results(None).unwrap();
    for id in &ids {
        let n = results.iter().filter(|r| r.attempt == *id).count();
        assert_eq!(n, 1, "attempt {id} is on the server {n} times");
    }
}

#[test]
fn swift_bindings_are_generated() {
    let dir = generated("swift");
    let swift = std::fs::read_to_string(dir.join("Doorstep.swift")).unwrap();
    for api in [
        "open class Phone",
        "func recordAttempt(",
        "func syncNow(",
        "func exportBundle(",
        "enum PhoneError: Swift.Error",
        "public protocol SyncProgress",
    ] {
        assert!(swift.contains(api), "Doorstep.swift lacks `{api}`");
    }
    let header = std::fs::read_to_string(dir.join("DoorstepFFI.h")).unwrap();
    assert!(header.contains("uniffi_doorstep_ffi_fn_method_phone_record_attempt"));
    assert!(dir.join("DoorstepFFI.modulemap").exists());
}
