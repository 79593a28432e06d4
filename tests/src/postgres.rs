//! A throwaway PostgreSQL cluster for tests: `initdb` with trust authentication in a temporary
//! directory, `pg_ctl -w start` on a free loopback port, stopped (and its files removed) when
//! dropped. Debian's `postgresql` package provides the programs (`cargo run -p xtask -- setup`
//! installs it when absent). As root, the programs run as the `postgres` user, as PostgreSQL
//! requires.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The PEM files of a cluster started with [`Cluster::start_tls`].
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The authority that signed the cluster's certificate and the client's.
    pub ca: PathBuf,
    /// A client certificate for the user `postgres`, for the databases that ask for one.
    pub client_cert: PathBuf,
    /// Its private key.
    pub client_key: PathBuf,
}

/// A running cluster.
pub struct Cluster {
    /// A connection URL for its `postgres` database, as the superuser `postgres`.
    pub url: String,
    /// For a cluster started with [`Cluster::start_tls`]: its certificate files.
    pub tls: Option<TlsFiles>,
    port: u16,
    socket_dir: PathBuf,
    /// `pg_ctl start`'s `-o` options and log file, to start it again after [`Cluster::stop`].
    options: String,
    log: String,
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
        Self::start_with(false, false)
    }

    /// Creates and starts a cluster that takes TCP connections over TLS only (`hostssl`; a
    /// connection in the clear is rejected), with a certificate for `localhost` and `127.0.0.1`
    /// signed by a throwaway authority ([`Cluster::tls`]). A database named `certs` also asks
    /// for a client certificate signed by it (`cert` authentication).
    pub fn start_tls() -> Self {
        Self::start_with(false, true)
    }

    /// Creates and starts a cluster that flushes every commit to disk, as a production one
    /// does: for benchmarks against SQLite's `synchronous=FULL`.
    pub fn start_durable() -> Self {
        Self::start_with(true, false)
    }

    fn start_with(durable: bool, tls: bool) -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("a directory for the cluster");
        let files = tls.then(|| certificates(dir.path()));
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
        if tls {
            let files = dir.path().to_string_lossy();
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={files}/server.crt -c ssl_key_file={files}/server.key \
                 -c ssl_ca_file={files}/ca.pem"
            ));
            // The socket for the test's own administration; TCP over TLS only, with a client
            // certificate for `certs`.
            let hba = "local all all trust\n\
                       hostssl certs all 127.0.0.1/32 cert\n\
                       hostssl all all 127.0.0.1/32 trust\n\
                       hostnossl all all 127.0.0.1/32 reject\n";
            std::fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
        }
        let log = dir.path().join("server.log").to_string_lossy().into_owned();
        run(
            &bin,
            "pg_ctl",
            &["-w", "-D", &data_s, "-o", &options, "-l", &log, "start"],
        );
        Self {
            url: format!("postgresql://postgres@127.0.0.1:{port}/postgres"),
            tls: files,
            port,
            socket_dir: dir.path().to_owned(),
            options,
            log,
            data,
            bin,
            _dir: dir,
        }
    }

    /// Stops the cluster (`pg_ctl stop -m fast`: every connection is cut, as in a failover or a
    /// restart of the database); [`Cluster::start_again`] brings it back on the same port.
    pub fn stop(&self) {
        let data = self.data.to_string_lossy();
        run(
            &self.bin,
            "pg_ctl",
            &["-w", "-D", &data, "-m", "fast", "stop"],
        );
    }

    /// Starts the cluster again after [`Cluster::stop`].
    pub fn start_again(&self) {
        let data = self.data.to_string_lossy();
        run(
            &self.bin,
            "pg_ctl",
            &[
                "-w",
                "-D",
                &data,
                "-o",
                &self.options,
                "-l",
                &self.log,
                "start",
            ],
        );
    }

    /// A superuser connection to one of its databases, over the Unix socket (which a TLS-only
    /// cluster also takes in the clear).
    pub fn admin(&self, database: &str) -> postgres::Client {
        postgres::Config::new()
            .host_path(&self.socket_dir)
            .port(self.port)
            .user("postgres")
            .dbname(database)
            .connect(postgres::NoTls)
            .expect("connect to the cluster")
    }

    /// Creates a fresh database; returns its URL.
    pub fn database(&self, name: &str) -> String {
        self.admin("postgres")
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create a database");
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

/// Writes a throwaway authority (`ca.pem`), a certificate it signed for `localhost` and
/// `127.0.0.1` (`server.crt`, `server.key`, readable by its owner only, as PostgreSQL demands),
/// and a client certificate for the user `postgres` (`client.crt`, `client.key`) into `dir`.
fn certificates(dir: &Path) -> TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("a key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Doorstep test authority");
    let ca_cert = ca
        .self_signed(&ca_key)
        .expect("the authority's certificate");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("a key");
    let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("parameters")
        .signed_by(&key, &issuer)
        .expect("the server's certificate");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).expect("write ca.pem");
    std::fs::write(dir.join("server.crt"), server.pem()).expect("write server.crt");
    let key_path = dir.join("server.key");
    std::fs::write(&key_path, key.serialize_pem()).expect("write server.key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod server.key");
    let client_key = KeyPair::generate().expect("a key");
    let mut client = CertificateParams::new(Vec::<String>::new()).expect("parameters");
    client
        .distinguished_name
        .push(DnType::CommonName, "postgres");
    let client = client
        .signed_by(&client_key, &issuer)
        .expect("the client's certificate");
    let files = TlsFiles {
        ca: ca_path,
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    };
    std::fs::write(&files.client_cert, client.pem()).expect("write client.crt");
    std::fs::write(&files.client_key, client_key.serialize_pem()).expect("write client.key");
    files
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
