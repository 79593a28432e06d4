//! A throwaway PostgreSQL cluster for tests: `initdb` with trust authentication in a temporary
//! directory, `pg_ctl -w start` on a free loopback port, stopped (and its files removed) when
//! dropped. Debian's `postgresql` package provides the programs (`cargo run -p xtask -- setup`
//! installs it when absent). As root, the programs run as the `postgres` user, as PostgreSQL
//! requires.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster.
pub struct Cluster {
    /// A connection URL for its `postgres` database, as the superuser `postgres`.
    pub url: String,
    port: u16,
    data: PathBuf,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

/// Where the PostgreSQL programs are: Debian's newest version, or `initdb` on the PATH.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let which = Command::new("pg_config").arg("--bindir").output();
    match which {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        _ => panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, no pg_config): run \
             `cargo run -p xtask -- setup`, which installs Debian's postgresql"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL program with its arguments, run as `postgres` when we are root.
fn command(bin: &Path, program: &str, args: &[&str]) -> Command {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    };
    command.args(args);
    command
}

/// Runs a PostgreSQL program; panics with its output if it fails.
fn run(bin: &Path, program: &str, args: &[&str]) {
    let out = command(bin, program, args)
        .output()
        .unwrap_or_else(|e| panic!("could not start {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// Creates and starts a cluster (about a second), without durability: no fsync.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Creates and starts a cluster that flushes every commit to disk, as a production one
    /// does: for benchmarks against SQLite's `synchronous=FULL`.
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("a directory for the cluster");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "could not hand the cluster's directory to postgres"
            );
        }
        let data = dir.path().join("data");
        let data_s = data.to_string_lossy().into_owned();
        run(
            &bin,
            "initdb",
            &[
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
                &data_s,
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let socket_dir = dir.path().to_string_lossy().into_owned();
        // Durability is not what the tests are about: no fsync, and a quick start and stop.
        let mut options = format!("-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1");
        if !durable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let log = dir.path().join("server.log").to_string_lossy().into_owned();
        run(
            &bin,
            "pg_ctl",
            &["-w", "-D", &data_s, "-o", &options, "-l", &log, "start"],
        );
        Self {
            url: format!("postgresql://postgres@127.0.0.1:{port}/postgres"),
            port,
            data,
            bin,
            _dir: dir,
        }
    }

    /// Creates a fresh database; returns its URL.
    pub fn database(&self, name: &str) -> String {
        let mut client =
            postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the cluster");
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create a database");
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        let _ = command(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-m", "immediate", "stop"],
        )
        .output();
    }
}
