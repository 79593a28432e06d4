//! Project automation. `cargo run -p xtask -- test` runs everything CI runs, in order, and stops
//! at the first failure; its last lines are cargo-nextest's summary.
//!
//! - `test`: format check, clippy, doc tests, the server binary, the bindings, the Kotlin
//!   toolchain, then every test (nextest).
//! - `bindings [--release]`: builds `doorstep-ffi` and generates Kotlin, Swift and Python from
//!   the library (uniffi library mode) into `target/bindings/<profile>/<language>/`.
//! - `setup`: installs what the foreign-language tests need (Kotlin compiler, JVM libraries).
//! - `demo [ARGS]`: builds the server and the bindings, then runs the terminal phone app.
//! - `bench-bindings`: the Python-versus-Rust cost of recording an attempt (release build).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The kotlinc the tests compile with (npm's `kotlin-compiler`, the JVM compiler).
const KOTLIN_COMPILER: &str = "kotlin-compiler@2.4.20";
/// What the Kotlin test needs from Debian when absent: a package, and the file or command that
/// shows it is there. The generated Kotlin has no async methods, so it needs JNA and no
/// coroutines library.
const DEBIAN_PACKAGES: [(&str, &str); 5] = [
    ("libjna-java", "/usr/share/java/jna.jar"),
    ("default-jre-headless", "java"),
    ("npm", "npm"),
    // The dashboard's browser tests drive it headless.
    ("chromium", "/usr/bin/chromium"),
    // The PostgreSQL tests start throwaway clusters with its programs.
    ("postgresql", "/usr/lib/postgresql"),
];

fn run(step: &str, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("==> {step}: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("{step}: could not start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The cargo target directory.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn library_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "libdoorstep_ffi.dylib"
    } else {
        "libdoorstep_ffi.so"
    }
}

/// Builds the library and the generator, then generates the three languages' bindings; returns
/// their directory (`target/bindings/<profile>`).
fn bindings(release: bool) -> Result<PathBuf, String> {
    let mut build = vec!["build", "-p", "doorstep-ffi", "--lib"];
    if release {
        build.push("--release");
    }
    run("bindings library", "cargo", &build)?;
    run(
        "generator",
        "cargo",
        &["build", "-p", "doorstep-uniffi-bindgen"],
    )?;
    generate(if release { "release" } else { "debug" })
}

/// Generates Kotlin, Swift and Python (uniffi library mode) from the library already built
/// for `profile`, with the generator already built (debug).
fn generate(profile: &str) -> Result<PathBuf, String> {
    let library = target_dir().join(profile).join(library_name());
    let generator = target_dir().join("debug/uniffi-bindgen");
    let out = target_dir().join("bindings").join(profile);
    for language in ["python", "kotlin", "swift"] {
        let dir = out.join(language);
        // Generated files are build output: start clean so nothing stale survives.
        let _ = std::fs::remove_dir_all(&dir);
        run(
            &format!("{language} bindings"),
            &generator.to_string_lossy(),
            &[
                "generate",
                "--no-format",
                "--library",
                &library.to_string_lossy(),
                "--language",
                language,
                "--out-dir",
                &dir.to_string_lossy(),
            ],
        )?;
    }
    // Python loads the library from beside its module; Kotlin and Swift apps bundle it.
    std::fs::copy(&library, out.join("python").join(library_name())).map_err(|e| {
        format!(
            "copying {} next to the Python module: {e}",
            library.display()
        )
    })?;
    eprintln!("==> bindings in {}", out.display());
    Ok(out)
}

/// Installs what the Kotlin test needs when absent: Java, JNA and npm from Debian, then the
/// Kotlin compiler from npm.
fn setup() -> Result<(), String> {
    let present = |what: &str| {
        if what.starts_with('/') {
            Path::new(what).exists()
        } else {
            Command::new(what).arg("--version").output().is_ok()
        }
    };
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|(_, what)| !present(what))
        .map(|(package, _)| *package)
        .collect();
    if !missing.is_empty() {
        let mut install = vec!["install", "-y", "--no-install-recommends"];
        install.extend(&missing);
        if run("Debian packages", "apt-get", &install).is_err() {
            run("package lists", "apt-get", &["update"])?;
            run("Debian packages", "apt-get", &install)?;
        }
    }
    let kotlin = target_dir().join("kotlin");
    if !kotlinc(&kotlin).exists() {
        std::fs::create_dir_all(&kotlin).map_err(|e| format!("{}: {e}", kotlin.display()))?;
        run(
            "Kotlin compiler",
            "npm",
            &[
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                &kotlin.to_string_lossy(),
                KOTLIN_COMPILER,
            ],
        )?;
    }
    Ok(())
}

fn kotlinc(prefix: &Path) -> PathBuf {
    prefix.join("node_modules/kotlin-compiler/bin/kotlinc")
}

fn test() -> Result<(), String> {
    run("format", "cargo", &["fmt", "--all", "--check"])?;
    run(
        "lint",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // One build of everything with the features the test runner will use, so nothing below
    // builds again: the server binary the end-to-end tests start, the bindings' library and the
    // generator, every test.
    run(
        "build",
        "cargo",
        &[
            "build",
            "--workspace",
            "--lib",
            "--bins",
            "--tests",
            "--examples",
        ],
    )?;
    run(
        "doc tests",
        "cargo",
        &["test", "--workspace", "--doc", "--quiet"],
    )?;
    // The Python, Kotlin and demo tests load these.
    generate("debug")?;
    setup()?;
    // Last, so the output ends with the runner's summary line.
    run(
        "tests",
        "cargo",
        &["nextest", "run", "--workspace", "--no-fail-fast"],
    )
}

fn demo(args: &[String]) -> Result<(), String> {
    run(
        "server binary",
        "cargo",
        &["build", "-p", "doorstep-server", "--bin", "doorstep"],
    )?;
    let out = bindings(false)?;
    let status = Command::new("python3")
        .arg(root().join("mobile-demo/doorstep_demo.py"))
        .args(args)
        .env("DOORSTEP_BINDINGS", out.join("python"))
        .env("DOORSTEP_BIN", target_dir().join("debug/doorstep"))
        .status()
        .map_err(|e| format!("could not start python3: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the demo app exited with {status}"))
    }
}

fn bench_bindings() -> Result<(), String> {
    let out = bindings(true)?;
    run(
        "benchmark",
        "cargo",
        &[
            "run",
            "--release",
            "-p",
            "doorstep-ffi",
            "--example",
            "record_from_python",
            "--",
            &out.join("python").to_string_lossy(),
        ],
    )
}

fn bench_import(args: &[String]) -> Result<(), String> {
    run(
        "build",
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "doorstep-server",
            "-p",
            "doorstep-tests",
            "--bin",
            "doorstep",
            "--bin",
            "importbench",
        ],
    )?;
    let mut argv = vec!["target/release/importbench".to_owned()];
    argv.extend(args.iter().cloned());
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    run("import benchmark", refs[0], &refs[1..])
}

const USAGE: &str = "usage: cargo run -p xtask -- <task>

  test             format check, clippy -D warnings, doc tests, the server binary, the bindings,
                   the Kotlin toolchain, then every test (nextest)
  bindings         build doorstep-ffi and generate Kotlin, Swift and Python into
                   target/bindings/debug (--release: target/bindings/release)
  setup            install what the Kotlin test needs if absent (Java, JNA, npm, kotlinc)
  demo [ARGS]      run the terminal phone app (mobile-demo/); ARGS go to it, e.g. --scenario
  bench-bindings   recording an attempt from Python against the same call in Rust
  bench-import     importing a 1,000,000-row ncvoter file against parsing it (release build)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bindings") => bindings(args.iter().any(|a| a == "--release")).map(|_| ()),
        Some("setup") => setup(),
        Some("demo") => demo(&args[1..]),
        Some("bench-bindings") => bench_bindings(),
        Some("bench-import") => bench_import(&args[1..]),
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
