//! Shared test fixtures: a scratch instance, the CLI, an SMTP server, a mail parser.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use mailin::{Handler, Response};

use crate::smtp_server;
use mailroom::db::Db;

pub const TOKEN_KEY: &str = "test-token-key-0123456789abcdef0123456789";

/// `newsletter.base_url` of the instances that deliver over SMTP.
pub const SMTP_BASE_URL: &str = "https://news.example.org";

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A scratch mailroom instance: its own directory, config file, SQLite file and outbox.
pub struct Instance {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Instance {
    /// An instance delivering to its outbox folder.
    pub fn new() -> Self {
        Self::with_config("")
    }

    /// An instance delivering to an SMTP server on loopback.
    pub fn smtp(port: u16) -> Self {
        Self::smtp_with(port, "")
    }

    /// An SMTP instance with `extra` TOML merged over it (its keys win, `tls` included).
    /// Its links are https, as `issue send` requires when mail goes to real mailboxes.
    pub fn smtp_with(port: u16, extra: &str) -> Self {
        let smtp = format!(
            "[delivery]\ntransport = \"smtp\"\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
             [newsletter]\nbase_url = \"{SMTP_BASE_URL}\"\n"
        );
        Self::with_config(&merge_toml(&smtp, extra))
    }

    /// `extra` is TOML merged over the test defaults (its keys win). The pre-send checks
    /// that `issue send` runs skip SpamAssassin (a second per send; tests/it/checks.rs and
    /// the spamassassin test turn it on) and give up on a link after 2 s.
    pub fn with_config(extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("mailroom.toml");
        let defaults = format!(
            "[database]\npath = \"{db}\"\n[secrets]\ntoken_key = \"{TOKEN_KEY}\"\n[http]\nbind = \"127.0.0.1:0\"\n\
             [delivery]\noutbox_dir = \"{outbox}\"\nrate_per_second = 1000\nburst = 100\npoll_interval_ms = 50\n\
             [checks]\nspamassassin = false\nlink_timeout_seconds = 2\n",
            db = dir.path().join("mailroom.db").display(),
            outbox = dir.path().join("outbox").display(),
        );
        let merged = merge_toml(&defaults, extra);
        std::fs::write(&config, merged).expect("write config");
        Self { dir, config }
    }

    /// Merges `extra` TOML into the instance's config file (as an operator edits it).
    pub fn reconfigure(&self, extra: &str) {
        let current = std::fs::read_to_string(&self.config).unwrap();
        std::fs::write(&self.config, merge_toml(&current, extra)).unwrap();
    }

    /// `newsletter.base_url` as the instance's configuration sets it.
    pub fn base_url(&self) -> String {
        mailroom::config::Settings::load(Some(&self.config))
            .expect("the test configuration loads")
            .newsletter
            .base_url
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("mailroom.db")
    }

    pub fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    /// Runs `mailroom --config … ARGS` in the instance directory.
    pub fn run(&self, args: &[&str]) -> Output {
        mailroom_command(self.dir.path())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run mailroom")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`mailroom {}` failed:\nstdout: {}\nstderr: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "`mailroom {}` should have failed:\nstdout: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// Imports the sample issue and the given subscribers, finalizes and queues the send.
    pub fn queue_sample(&self, subscribers_csv: &str) {
        self.queue_sample_with(subscribers_csv, |args| {
            self.ok(args);
        });
    }

    /// What `queue_sample` does, each command run by `run`.
    pub fn queue_sample_with(&self, subscribers_csv: &str, run: impl Fn(&[&str])) {
        let issue = repo_path("samples/issue-210.md");
        run(&["issue", "import", issue.to_str().unwrap()]);
        run(&["issue", "finalize", "210"]);
        let csv = self.write("subscribers.csv", subscribers_csv.as_bytes());
        run(&["subscribers", "import", csv.to_str().unwrap()]);
        run(&["issue", "send", "210"]);
    }

    /// Starts `mailroom serve ARGS` and waits until it listens.
    pub fn serve(&self, args: &[&str]) -> Served {
        let mut child = mailroom_command(self.dir.path())
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start mailroom serve");
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("mailroom listening on ")
            .expect("address line")
            .to_string();
        Served {
            child,
            base,
            client: http_client(),
        }
    }
}

impl Sql for Instance {
    /// Opens the instance's SQLite file for `f`, on a runtime of its own, and closes it.
    fn with_db<T>(&self, f: impl AsyncFnOnce(&Db) -> T) -> T {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let db = Db::open(&self.db_path()).await.expect("open db");
            f(&db).await
        })
    }
}

/// Direct SQL on an instance's database: for states no command sets yet, and to check
/// what was stored.
pub trait Sql {
    fn with_db<T>(&self, f: impl AsyncFnOnce(&Db) -> T) -> T;

    /// Runs one statement.
    fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        self.with_db(async |db| sqlx::query(sql).execute(db.pool()).await.expect("execute"));
    }

    /// A query returning one value.
    fn query_one<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
    {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        self.with_db(async |db| {
            sqlx::query_scalar::<_, T>(sql)
                .fetch_one(db.pool())
                .await
                .expect("query")
        })
    }

    fn query_scalar(&self, sql: &str) -> i64 {
        self.query_one(sql)
    }

    fn query_text(&self, sql: &str) -> String {
        self.query_one(sql)
    }

    /// A subscriber's status, by stored address.
    fn subscriber_status(&self, email: &str) -> String {
        self.query_text(&format!(
            "SELECT status FROM subscribers WHERE email = '{email}'"
        ))
    }

    fn subscriber_id(&self, email: &str) -> i64 {
        self.query_scalar(&format!(
            "SELECT id FROM subscribers WHERE email = '{email}'"
        ))
    }

    /// How many events of this kind were recorded.
    fn event_count(&self, kind: &str) -> i64 {
        self.query_scalar(&format!(
            "SELECT count(*) FROM events WHERE kind = '{kind}'"
        ))
    }
}

/// `extra`'s keys win over `base`'s, section by section.
fn merge_toml(base: &str, extra: &str) -> String {
    let mut merged: toml::Table = base.parse().unwrap();
    let extra: toml::Table = extra.parse().expect("test config is TOML");
    for (section, values) in extra {
        match (merged.get_mut(&section), values) {
            (Some(toml::Value::Table(base)), toml::Value::Table(values)) => base.extend(values),
            (_, values) => {
                merged.insert(section, values);
            }
        }
    }
    toml::to_string(&merged).unwrap()
}

pub fn mailroom_command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    cmd.current_dir(dir)
        .env_remove("MAILROOM_CONFIG")
        .env("MAILROOM_LOG", "warn");
    for (key, _) in std::env::vars() {
        if key.starts_with("MAILROOM_") && key != "MAILROOM_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// One message as an SMTP server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Whether the client authenticated (AUTH PLAIN) on this connection.
    pub authenticated: bool,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Clone)]
struct Collect {
    store: Arc<Mutex<Vec<Received>>>,
    current: Option<Received>,
    authenticated: bool,
}

/// Credentials the TLS test server accepts.
pub const SMTP_USER: &str = "mailroom";
pub const SMTP_PASSWORD: &str = "relay-secret";

impl Handler for Collect {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received {
            authenticated: self.authenticated,
            mail_from: from.to_string(),
            rcpt_to: to.to_vec(),
            data: Vec::new(),
        });
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(current) = &mut self.current {
            current.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(done) = self.current.take() {
            self.store.lock().unwrap().push(done);
        }
        mailin::response::OK
    }

    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        mailin::response::OK
    }

    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        if user == SMTP_USER && password == SMTP_PASSWORD {
            self.authenticated = true;
            mailin::response::AUTH_OK
        } else {
            mailin::response::INVALID_CREDENTIALS
        }
    }

    /// Scripted per recipient by the local part's first word: `reject` 550 (no enhanced
    /// code), `tempfail` 452, `hard` 550 5.1.1, `disabled` 550 5.2.1, `full` 552 5.2.2,
    /// `blocked` 550 5.7.1, `toobig` 552 5.3.4, `content` 554 5.6.0, `slowdown` 450 4.7.1.
    fn rcpt(&mut self, to: &str) -> Response {
        let scripted = |code, text: &str| Response::custom(code, text.to_string());
        match to.split(['.', '@', '+']).next().unwrap_or_default() {
            "reject" => mailin::response::NO_MAILBOX,
            "tempfail" => mailin::response::OUT_OF_SPACE,
            "hard" => scripted(550, "5.1.1 <x>: Recipient address rejected: User unknown"),
            "disabled" => scripted(550, "5.2.1 Mailbox disabled"),
            "full" => scripted(552, "5.2.2 Mailbox full"),
            "blocked" => scripted(550, "5.7.1 Message rejected by policy"),
            "toobig" => scripted(552, "5.3.4 Message size exceeds fixed limit"),
            "content" => scripted(554, "5.6.0 Content rejected"),
            "slowdown" => scripted(450, "4.7.1 Too many messages, slow down"),
            _ => mailin::response::OK,
        }
    }
}

/// An SMTP server on a free loopback port, collecting every message it accepts.
pub struct SmtpServer {
    pub port: u16,
    store: Arc<Mutex<Vec<Received>>>,
}

impl SmtpServer {
    pub fn start() -> Self {
        Self::start_with(None, false)
    }

    /// A server offering STARTTLS with the certificate in `tls` and requiring AUTH PLAIN.
    pub fn start_tls(tls: &TestCertificate) -> Self {
        Self::start_with(Some(tls.server_config()), true)
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>, auth: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMTP port");
        let port = listener.local_addr().unwrap().port();
        let store = Arc::new(Mutex::new(Vec::new()));
        let handler = Collect {
            store: store.clone(),
            current: None,
            authenticated: false,
        };
        let options = smtp_server::Options {
            name: "mx.test.example",
            tls,
            auth,
        };
        smtp_server::serve(listener, handler, options);
        Self { port, store }
    }

    pub fn received(&self) -> Vec<Received> {
        self.store.lock().unwrap().clone()
    }

    /// How many messages arrived so far.
    pub fn count(&self) -> usize {
        self.store.lock().unwrap().len()
    }

    /// Messages received per envelope recipient.
    pub fn per_recipient(&self) -> std::collections::HashMap<String, usize> {
        let mut counts = std::collections::HashMap::new();
        for r in self.store.lock().unwrap().iter() {
            for rcpt in &r.rcpt_to {
                *counts.entry(rcpt.clone()).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// An HTTPS server on loopback presenting the test certificate: `respond` maps each
/// request's path to a status line ("200 OK") and a body. Returns its port.
pub fn https_server(
    tls: &TestCertificate,
    respond: impl Fn(&str) -> (&'static str, Vec<u8>) + Send + Sync + 'static,
) -> u16 {
    use std::io::{Read as _, Write as _};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = tls.server_config();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let respond = Arc::new(respond);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (config, respond) = (config.clone(), respond.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or_default();
                let (status, body) = respond(path);
                let _ = write!(
                    tls,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(&body);
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

/// A private CA and a server certificate for 127.0.0.1 it signed, made with openssl.
pub struct TestCertificate {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCertificate {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let ext = path("leaf.ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let steps: [Vec<String>; 3] = [
            [
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=mailroom test CA",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([
                "-keyout".into(),
                path("ca.key"),
                "-out".into(),
                path("ca.pem"),
            ])
            .collect(),
            [
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([
                "-keyout".into(),
                path("key.pem"),
                "-out".into(),
                path("leaf.csr"),
            ])
            .collect(),
            ["x509", "-req", "-days", "1", "-CAcreateserial"]
                .iter()
                .map(|s| s.to_string())
                .chain(["-in".into(), path("leaf.csr"), "-CA".into(), path("ca.pem")])
                .chain([
                    "-CAkey".into(),
                    path("ca.key"),
                    "-extfile".into(),
                    ext.clone(),
                ])
                .chain(["-out".into(), path("cert.pem")])
                .collect(),
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(&args)
                .output()
                .expect("openssl is installed");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Self {
            ca: path("ca.pem").into(),
            cert: path("cert.pem").into(),
            key: path("key.pem").into(),
            _dir: dir,
        }
    }

    /// A rustls server configuration presenting this certificate, for the test servers
    /// that speak TLS (SMTP, POP3, HTTPS).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(&self.key).unwrap();
        Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        )
    }
}

/// Headless Chromium, as installed by `.ci/run` (Debian's `chromium` package): `CHROMIUM`
/// if set, else the first of its usual names on `PATH`.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return path.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(found) = std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
        {
            return found;
        }
    }
    panic!("headless Chromium is required: `apt-get install chromium` (.ci/run does this)");
}

/// Loads `html_file` at the given viewport width and returns the DOM after scripts ran.
pub fn chromium_dump_dom(html_file: &Path, width: u32) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},900"))
        .arg("--dump-dom")
        .arg(format!("file://{}", html_file.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running `mailroom serve`, killed when dropped.
pub struct Served {
    child: std::process::Child,
    pub base: String,
    client: reqwest::blocking::Client,
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Served {
    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Http for Served {
    fn base(&self) -> &str {
        &self.base
    }

    fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }
}

/// A client that does not follow redirects: tests look at them.
pub fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Requests to a running mailroom, in this process ([`crate::app::TestApp`]) or another
/// ([`Served`]).
pub trait Http {
    /// `http://127.0.0.1:PORT`
    fn base(&self) -> &str;

    fn client(&self) -> &reqwest::blocking::Client;

    fn request(&self, method: &str, path: &str, content_type: Option<&str>, body: &str) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client()
            .request(method, format!("{}{path}", self.base()))
            .body(body.to_string());
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        read_reply(request)
    }

    /// A request with `Authorization: Bearer TOKEN` and an optional JSON body.
    fn admin(&self, method: &str, path: &str, token: &str, json: Option<&str>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client()
            .request(method, format!("{}{path}", self.base()))
            .header("Authorization", format!("Bearer {token}"));
        if let Some(body) = json {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        read_reply(request)
    }

    /// A form POST with extra request headers (a reverse proxy's, say).
    fn post_form_with(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut request = self
            .client()
            .post(format!("{}{path}", self.base()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read_reply(request)
    }

    /// An admin request with a body sent exactly as given: any or no Content-Type.
    fn admin_raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client()
            .request(method, format!("{}{path}", self.base()))
            .header("Authorization", format!("Bearer {token}"))
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        read_reply(request)
    }

    fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None, "")
    }

    fn post_form(&self, path: &str, body: &str) -> Reply {
        self.request(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            body,
        )
    }
}

/// Sends a request and reads the whole response.
fn read_reply(request: reqwest::blocking::RequestBuilder) -> Reply {
    let response = request.send().expect("HTTP request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Reply {
        status,
        headers,
        body: response.text().unwrap_or_default(),
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
