//! How a server reaches PostgreSQL: in the clear, or over TLS with the server's certificate
//! checked.
//!
//! The URL speaks libpq's words. `sslmode=require` and `sslmode=verify-full` both encrypt and
//! both check the certificate and the host name: voter data never crosses a network to a
//! database that has not proved who it is (libpq's `require` would encrypt without checking).
//! `sslrootcert=PATH` names the authority to trust, as managed databases hand out (Amazon RDS,
//! Google Cloud SQL); without it, or with `sslrootcert=system`, the system's trusted
//! authorities are used. `sslcert=PATH&sslkey=PATH` present a client certificate, for a
//! database that authenticates its clients by certificate. No `sslmode`, `disable` and
//! `prefer` connect in the clear, as before.
//! `verify-ca` (encrypt and check the authority but not the name) is refused.

use super::super::{StorageError, StorageResult};
use ::postgres::config::SslMode;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What a connection is made with.
#[derive(Clone)]
pub(crate) enum Connector {
    /// In the clear.
    Plain,
    /// TLS, the certificate checked against `roots`.
    Tls {
        /// The connector.
        make: MakeRustlsConnect,
        /// Whose authorities are trusted, for messages: a file or the system's.
        roots: String,
    },
}

impl Connector {
    /// Opens one connection.
    pub(crate) fn connect(
        &self,
        config: &::postgres::Config,
    ) -> Result<::postgres::Client, ::postgres::Error> {
        match self {
            Self::Plain => config.connect(::postgres::NoTls),
            Self::Tls { make, .. } => config.connect(make.clone()),
        }
    }

    /// What to add to a connection failure's reason: how to make a certificate trusted.
    pub(crate) fn hint(&self, reason: &str) -> String {
        match self {
            // PostgreSQL's own refusal: it authenticates its clients by certificate.
            Self::Tls { .. } if reason.contains("client certificate") => {
                "; the database authenticates its clients by certificate: give this server's as \
                 sslcert=PATH&sslkey=PATH in the URL, signed by an authority the database trusts \
                 and naming the URL's user"
                    .to_owned()
            }
            Self::Tls { roots, .. } if reason.contains("certificate") => format!(
                "; the database's certificate was checked against {roots}: if an authority of \
                 your own signed it, give its PEM file as sslrootcert=PATH in the URL, and make \
                 sure the URL's host is a name the certificate carries"
            ),
            // PostgreSQL's refusal of a connection in the clear that `hostssl` would take.
            Self::Plain if reason.contains("no encryption") => {
                "; the database takes connections over TLS only: add ?sslmode=verify-full to the \
                 URL"
                .to_owned()
            }
            _ => String::new(),
        }
    }
}

/// Parses a connection URL (or libpq `key=value` settings) into what tokio-postgres takes and
/// the connector its `sslmode` and `sslrootcert` ask for.
pub(crate) fn parse(url: &str) -> StorageResult<(::postgres::Config, Connector)> {
    let invalid = |why: String| {
        StorageError::Input(format!(
            "the PostgreSQL URL is not valid ({why}); write it as \
             postgresql://USER@HOST:PORT/DATABASE, with ?sslmode=verify-full for TLS"
        ))
    };
    let (url, settings) = doorstep_settings(url).map_err(invalid)?;
    let mut config: ::postgres::Config = url.parse().map_err(|e: ::postgres::Error| {
        let mut why = e.to_string();
        if url.starts_with("postgres") {
            // What is wrong, by the option's name: past the credentials, as split above.
            if let Some(cause) = std::error::Error::source(&e) {
                why = format!("{why}: {cause}");
            }
        } else if ["sslmode=verify", "sslrootcert", "sslcert", "sslkey"]
            .iter()
            .any(|k| url.contains(k))
        {
            // `key=value` settings may hold a password anywhere: nothing of them is shown.
            why.push_str(
                "; verify-full and the certificate files are read from a postgresql:// URL \
                     only",
            );
        }
        invalid(why)
    })?;
    // tokio-postgres takes a URL's credentials up to its first `@`: an `@` left unencoded in the
    // settings of a URL without credentials, or a second one in a password, makes the rest of
    // the URL (settings, password and all) read as the host. Refused without showing it.
    let misread = config.get_hosts().iter().any(|h| match h {
        ::postgres::config::Host::Tcp(h) => h.contains(['&', '=', '?', '@', '/']),
        #[cfg(unix)]
        ::postgres::config::Host::Unix(_) => false,
    });
    if misread {
        return Err(invalid(
            "its host cannot be read: write an '@' inside the user name, the password or the \
             settings as %40"
                .into(),
        ));
    }
    // In `key=value` settings, tokio-postgres has read `sslmode` (disable, prefer, require).
    let mode = settings
        .mode
        .clone()
        .or_else(|| (config.get_ssl_mode() == SslMode::Require).then(|| "require".to_owned()));
    let connector = match mode.as_deref() {
        None | Some("disable" | "prefer") => {
            let given = [
                ("sslrootcert", &settings.root),
                ("sslcert", &settings.cert),
                ("sslkey", &settings.key),
            ];
            if let Some((name, _)) = given.iter().find(|(_, v)| v.is_some()) {
                return Err(invalid(format!(
                    "{name} is given but the connection would not use TLS: add \
                     sslmode=verify-full"
                )));
            }
            Connector::Plain
        }
        Some("require" | "verify-full") => {
            config.ssl_mode(SslMode::Require);
            tls(settings)?
        }
        Some("verify-ca") => {
            return Err(invalid(
                "sslmode=verify-ca checks the authority but not the host name, which Doorstep \
                 does not do: use sslmode=verify-full"
                    .into(),
            ));
        }
        Some(other) => {
            return Err(invalid(format!(
                "sslmode={other} is not one Doorstep knows: use verify-full (TLS) or disable"
            )));
        }
    };
    settle_timeouts(&mut config);
    Ok((config, connector))
}

/// Bounds on a database that stops answering without closing its connections (a failover
/// that takes its address away), unless the URL sets its own: 5 s to connect, 30 s for sent
/// data to go unacknowledged (a query in flight), and keepalives after 30 s idle (a connection
/// waiting in the pool), so that the pool's connections to it are found dead and replaced.
fn settle_timeouts(config: &mut ::postgres::Config) {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(30));
    }
    // tokio-postgres's default, two hours, is libpq's.
    if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
        config.keepalives_idle(Duration::from_secs(30));
    }
}

/// The URL's TLS settings, in libpq's words.
#[derive(Default)]
struct TlsSettings {
    /// `sslmode`.
    mode: Option<String>,
    /// `sslrootcert`: the authorities to trust, a PEM file (or `system`).
    root: Option<String>,
    /// `sslcert`: this server's client certificate (and its chain), a PEM file.
    cert: Option<String>,
    /// `sslkey`: the client certificate's private key, a PEM file.
    key: Option<String>,
}

/// Takes the TLS settings out of a `postgresql://` URL's query (tokio-postgres knows neither
/// `verify-full` nor the files); the rest of the URL is passed on byte for byte. `key=value`
/// settings are passed on whole: tokio-postgres reads their `sslmode` itself.
fn doorstep_settings(url: &str) -> Result<(String, TlsSettings), String> {
    let Some(rest) = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
    else {
        return Ok((url.to_owned(), TlsSettings::default()));
    };
    // As tokio-postgres reads it: the credentials end at the first `@`, so a `?` in a password
    // is not the query's.
    let after_credentials = rest.find('@').map_or(0, |at| at + 1);
    let Some(query_at) = rest[after_credentials..]
        .find('?')
        .map(|q| url.len() - rest.len() + after_credentials + q)
    else {
        return Ok((url.to_owned(), TlsSettings::default()));
    };
    let (base, query) = (&url[..query_at], &url[query_at + 1..]);
    let mut settings = TlsSettings::default();
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "sslmode" => &mut settings.mode,
            "sslrootcert" => &mut settings.root,
            "sslcert" => &mut settings.cert,
            "sslkey" => &mut settings.key,
            _ => {
                kept.push(pair);
                continue;
            }
        };
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| format!("the value of {key} is not UTF-8 once decoded"))?;
        *slot = Some(value.into_owned());
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, settings))
}

/// The certificates in a PEM file.
fn certificates(path: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// A TLS connector trusting the authorities in `sslrootcert` (a PEM file), or the system's,
/// presenting the client certificate in `sslcert` and `sslkey` if given.
fn tls(settings: TlsSettings) -> StorageResult<Connector> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let unreadable = |setting: &str, path: &str, why: String, want: &str| {
        StorageError::Input(format!(
            "{setting} {path} cannot be used: {why}; give a PEM file of {want}"
        ))
    };
    let mut store = rustls::RootCertStore::empty();
    let roots = match settings.root.as_deref() {
        None | Some("system") => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(StorageError::Input(
                    "sslmode asks for TLS but this machine has no trusted certificate \
                     authorities (install Debian's ca-certificates), and the URL names none: \
                     give the database's authority as sslrootcert=PATH"
                        .into(),
                ));
            }
            "this machine's trusted authorities".to_owned()
        }
        Some(path) => {
            let authority = "the authority that signed the database's certificate";
            let bad = |why: String| unreadable("sslrootcert", path, why, authority);
            let (added, _) = store.add_parsable_certificates(certificates(path).map_err(bad)?);
            if added == 0 {
                return Err(bad("it holds no certificate".into()));
            }
            format!("the authority in {path}")
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StorageError::Input(format!("TLS cannot be set up: {e}")))?
        .with_root_certificates(store);
    let config = match (settings.cert.as_deref(), settings.key.as_deref()) {
        (None, None) => config.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let want = "this server's client certificate";
            let bad = |why: String| unreadable("sslcert", cert, why, want);
            let chain = certificates(cert).map_err(bad)?;
            if chain.is_empty() {
                return Err(bad("it holds no certificate".into()));
            }
            let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                unreadable(
                    "sslkey",
                    key,
                    e.to_string(),
                    "the client certificate's private key",
                )
            })?;
            config.with_client_auth_cert(chain, private).map_err(|e| {
                StorageError::Input(format!(
                    "sslcert {cert} and sslkey {key} cannot be used together: {e}; give the \
                     certificate and the private key that belongs to it"
                ))
            })?
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(StorageError::Input(
                "the PostgreSQL URL gives one of sslcert and sslkey without the other: a client \
                 certificate needs both files"
                    .into(),
            ));
        }
    };
    Ok(Connector::Tls {
        make: MakeRustlsConnect::new(config),
        roots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(url: &str) -> String {
        match parse(url) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{url} was accepted"),
        }
    }

    #[test]
    fn a_url_without_tls_settings_connects_in_the_clear() {
        for url in [
            "postgresql://doorstep:secret@db.internal:5433/field",
            "postgresql://doorstep@db.internal/field?sslmode=disable",
            "postgres://doorstep@db.internal/field?sslmode=prefer&connect_timeout=5",
            "host=db.internal user=doorstep dbname=field",
        ] {
            let (config, connector) = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(matches!(connector, Connector::Plain), "{url}");
            assert_eq!(config.get_dbname(), Some("field"), "{url}");
        }
        let (config, _) =
            parse("postgres://u@h/field?sslmode=prefer&connect_timeout=7").expect("valid");
        assert_eq!(
            config.get_connect_timeout(),
            Some(&Duration::from_secs(7)),
            "the URL's own timeout is kept"
        );
    }

    #[test]
    fn the_rest_of_the_url_reaches_tokio_postgres_as_it_was_written() {
        // Spaces in other settings stay spaces (not `+`); a `?` in a password is the
        // password's, not the query's.
        let (config, connector) = parse(
            "postgresql://u:pa%20s?s@db.internal/field?options=-c%20search_path%3Dx&sslmode=verify-full&application_name=My%20App",
        )
        .expect("valid");
        assert_eq!(config.get_options(), Some("-c search_path=x"));
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(5)));
        assert_eq!(
            config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(30))
        );
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(30));
        assert_eq!(config.get_application_name(), Some("My App"));
        assert_eq!(config.get_password(), Some(&b"pa s?s"[..]));
        assert!(matches!(connector, Connector::Tls { .. }));
        let (config, connector) = parse("postgresql://u:pa?ss@db.internal/field").expect("valid");
        assert_eq!(config.get_password(), Some(&b"pa?ss"[..]));
        assert!(matches!(connector, Connector::Plain));
        // An unencoded '@' in the settings or a second one in the password: refused, and
        // nothing of the URL shown.
        for url in [
            "postgresql://db.internal/field?user=a@srv&password=s3cret&sslmode=verify-full",
            "postgresql://u:p@s3cret@db.internal/field",
        ] {
            let m = message(url);
            assert!(m.contains("write an '@'"), "{m}");
            assert!(!m.contains("s3cret") && !m.contains("srv"), "{m}");
        }
        let (config, _) = parse("postgresql://u:p%40s3cret@db.internal/field").expect("valid");
        assert_eq!(config.get_password(), Some(&b"p@s3cret"[..]));
        // `key=value` settings: tokio-postgres reads them, quotes and all.
        let (config, connector) =
            parse("host=db.internal dbname=field password='x sslmode=foo'").expect("valid");
        assert_eq!(config.get_password(), Some(&b"x sslmode=foo"[..]));
        assert!(matches!(connector, Connector::Plain));
        let (_, connector) = parse("host=db.internal dbname=field sslmode=require").expect("valid");
        assert!(matches!(connector, Connector::Tls { .. }));
    }

    #[test]
    fn verify_full_with_a_root_file_uses_tls_with_that_authority() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = rcgen::generate_simple_self_signed(vec!["db.internal".into()])
            .expect("a certificate")
            .cert
            .pem();
        let path = dir.path().join("ca with space.pem");
        std::fs::write(&path, ca).expect("write");
        let path = path.to_string_lossy();
        let encoded =
            percent_encoding::utf8_percent_encode(&path, percent_encoding::NON_ALPHANUMERIC);
        let url = format!(
            "postgresql://u@db.internal/field?sslmode=verify-full&sslrootcert={encoded}&application_name=doorstep"
        );
        let (config, connector) = parse(&url).expect("valid");
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        assert_eq!(config.get_application_name(), Some("doorstep"));
        match connector {
            Connector::Tls { roots, .. } => assert!(roots.contains("ca with space.pem"), "{roots}"),
            Connector::Plain => panic!("verify-full connected in the clear"),
        }
    }

    #[test]
    fn a_client_certificate_is_read_and_its_key_must_belong_to_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path.display().to_string()
        };
        let one = rcgen::generate_simple_self_signed(vec!["doorstep".into()]).expect("cert");
        let other = rcgen::generate_simple_self_signed(vec!["doorstep".into()]).expect("cert");
        let cert = write("client.crt", one.cert.pem());
        let key = write("client.key", one.signing_key.serialize_pem());
        let wrong = write("other.key", other.signing_key.serialize_pem());
        let base = "postgresql://u@db.internal/field?sslmode=verify-full";
        let (_, connector) = parse(&format!("{base}&sslcert={cert}&sslkey={key}")).expect("valid");
        assert!(matches!(connector, Connector::Tls { .. }));
        let m = message(&format!("{base}&sslcert={cert}&sslkey={wrong}"));
        assert!(m.contains("cannot be used together"), "{m}");
        let m = message(&format!("{base}&sslcert={cert}&sslkey={cert}"));
        assert!(m.contains("sslkey") && m.contains("private key"), "{m}");
    }

    #[test]
    fn bad_tls_settings_are_refused_with_what_to_do() {
        let m = message("postgresql://u:secret@h/field?sslmode=verify-ca");
        assert!(m.contains("use sslmode=verify-full"), "{m}");
        let m = message("postgresql://u:secret@h/field?sslmode=allow");
        assert!(m.contains("sslmode=allow is not one Doorstep knows"), "{m}");
        let m = message("postgresql://u:secret@h/field?sslrootcert=/etc/ca.pem");
        assert!(m.contains("add sslmode=verify-full"), "{m}");
        let m = message(
            "postgresql://u:secret@h/field?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        );
        assert!(
            m.contains("sslrootcert /nonexistent/ca.pem cannot be used"),
            "{m}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let m = message(&format!(
            "postgresql://u:secret@h/field?sslmode=require&sslrootcert={}",
            empty.display()
        ));
        assert!(m.contains("it holds no certificate"), "{m}");
        let m = message(&format!(
            "postgresql://u:secret@h/field?sslmode=require&sslcert={}",
            empty.display()
        ));
        assert!(
            m.contains("one of sslcert and sslkey without the other"),
            "{m}"
        );
        let m = message(&format!(
            "postgresql://u:secret@h/field?sslmode=require&sslcert={0}&sslkey={0}",
            empty.display()
        ));
        assert!(
            m.contains("sslcert") && m.contains("it holds no certificate"),
            "{m}"
        );
        let m = message("postgresql://u:secret@h/field?sslkey=/etc/key.pem");
        assert!(m.contains("sslkey is given but"), "{m}");
        let m = message("host=h sslmode=verify-full password=hunter2");
        assert!(m.contains("postgresql:// URL only"), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
        for url in [
            "postgresql://u:secret@h/field?sslmode=verify-ca",
            "postgresql://u:secret@h/field?sslrootcert=/etc/ca.pem",
        ] {
            assert!(!message(url).contains("secret"), "the password leaked");
        }
    }
}
