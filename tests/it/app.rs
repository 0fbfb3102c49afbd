//! The app inside the test's own process, the zero-to-production way: `spawn_app()` serves
//! the real router of `mailroom serve --http-only` on a free loopback port, with its own
//! directory, SQLite file and outbox, and the test drives the worker itself. Nothing is
//! spawned and nothing is polled: a delivery test runs the worker until nothing is due,
//! an opt-in test waits for the confirmations in flight.
//!
//! Tests about the process itself (CLI output and exit codes, signals, kill -9, several
//! processes on one database) run the binary instead: see [`Instance`].

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Parser;
use mailroom::clicks::Clicks;
use mailroom::config::Settings;
use mailroom::db::Db;
use mailroom::optin::Confirmations;
use mailroom::startup::Application;
use mailroom::worker::{Step, Worker};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::helpers::{Http, Instance, Sql, http_client};

/// An app with the test defaults (see [`Instance::with_config`]), delivering to its outbox.
pub fn spawn_app() -> TestApp {
    Instance::new().spawn_app()
}

/// An app with `extra` TOML merged over the test defaults.
pub fn spawn_app_with(extra: &str) -> TestApp {
    Instance::with_config(extra).spawn_app()
}

impl Instance {
    /// Serves this instance from inside the test process.
    pub fn spawn_app(self) -> TestApp {
        TestApp::start(self)
    }
}

/// A running app and the instance it runs on. It dereferences to the [`Instance`]: its
/// directory, config file, outbox, and the binary for the CLI's own output (`ok`, `fails`).
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The app's own connection pool.
    pub db: Db,
    client: reqwest::blocking::Client,
    /// The worker a `serve` would run, stepped by the test instead.
    worker: Option<Worker>,
    optin: Option<Arc<Confirmations>>,
    clicks: Arc<Clicks>,
    shutdown: watch::Sender<bool>,
    server: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    runtime: Option<Runtime>,
    instance: Option<Instance>,
}

impl TestApp {
    fn start(instance: Instance) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        // The same layering as the binary, `MAILROOM_…` variables of this process included
        // (the test suite sets none).
        let settings = Settings::load(Some(&instance.config)).expect("the test configuration");
        let app = runtime
            .block_on(Application::build(settings))
            .expect("the app starts");
        let base = format!("http://{}", app.local_addr());
        let db = app.context().db.clone();
        // One worker for the app's life, as in `serve`: rate limiter, rendered issues and
        // relay connections carry over from one batch to the next.
        let worker = app.context().worker().expect("the worker starts");
        let optin = app.confirmations();
        let clicks = app.clicks();
        let (shutdown, stop) = watch::channel(false);
        // `run_until_stopped` serves with connect info, which the per-IP limit and the
        // consent record need. It runs on a thread of its own, as `serve` runs it on its
        // main thread: the future is not `Send`, so it cannot be a task.
        let handle = runtime.handle().clone();
        let server =
            std::thread::spawn(move || handle.block_on(app.run_until_stopped(stop, false)));
        Self {
            base,
            db,
            client: http_client(),
            worker: Some(worker),
            optin: Some(optin),
            clicks,
            shutdown,
            server: Some(server),
            runtime: Some(runtime),
            instance: Some(instance),
        }
    }

    /// Runs `future` on the app's runtime, from the test's thread.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.as_ref().expect("running").block_on(future)
    }

    fn worker(&self) -> &Worker {
        self.worker.as_ref().expect("running")
    }

    /// One batch of the worker: what it claimed and attempted, or why it did nothing.
    pub fn deliver_batch(&self) -> Step {
        let stop = AtomicBool::new(false);
        self.block_on(self.worker().try_execute_batch(&stop))
            .expect("a delivery batch")
    }

    /// Delivers until nothing is due, as `mailroom worker --drain` does (sends whose
    /// deliveries are all done are marked done); returns the delivery attempts made.
    pub fn deliver_all(&self) -> u64 {
        self.block_on(
            self.worker()
                .run_until_stopped(self.shutdown.subscribe(), true),
        )
        .expect("the worker drains")
    }

    /// Waits until the confirmation emails accepted so far were handed to the transport
    /// (or failed and were forgotten): they are sent after the response.
    pub fn confirmations_sent(&self) {
        let optin = self.optin.as_ref().expect("running");
        self.block_on(optin.drain(Duration::from_secs(30)));
    }

    /// The server's click counter: `skip_time` plays a reader coming back later.
    pub fn clicks(&self) -> &Clicks {
        &self.clicks
    }

    /// A send's progress, as the admin API shows it (`GET /api/sends/NUMBER`).
    pub fn progress(&self, number: u32) -> serde_json::Value {
        let progress = self
            .block_on(self.db.send_progress(number))
            .expect("send progress")
            .unwrap_or_else(|| panic!("issue #{number} has no send"));
        serde_json::to_value(progress).unwrap()
    }

    /// Runs `mailroom ARGS` in this process, to set things up; what it prints goes to the
    /// test's captured output. Paths must be absolute: this process runs in the repository.
    /// `serve` and `worker` are not for here (they would take this process's signals).
    pub fn cli(&self, args: &[&str]) {
        let config = self.config.display().to_string();
        let argv = ["mailroom", "--config", &config]
            .into_iter()
            .chain(args.iter().copied());
        let cli = mailroom::cli::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = self.block_on(mailroom::cli::run(cli)) {
            panic!("`mailroom {}` failed: {e:#}", args.join(" "));
        }
    }

    /// The sample issue sent to `subscribers_csv`, queued by the CLI run in this process.
    pub fn queue_sample(&self, subscribers_csv: &str) {
        self.queue_sample_with(subscribers_csv, |args| self.cli(args));
    }

    /// Stops the app (as SIGTERM would) and gives its instance back.
    pub fn stop(mut self) -> Instance {
        self.shut_down();
        self.instance.take().expect("running")
    }

    /// Stops the app and starts it again on the same instance, with its configuration
    /// as the file now says.
    pub fn restart(self) -> TestApp {
        self.stop().spawn_app()
    }

    fn shut_down(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let stopped = server.join();
            if !std::thread::panicking() {
                stopped
                    .expect("the server thread")
                    .expect("the app ran cleanly");
            }
        }
        // Inside the runtime: lettre's SMTP pool closes its connections on a task.
        let _inside = runtime.enter();
        self.worker = None;
        self.optin = None;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl Deref for TestApp {
    type Target = Instance;

    fn deref(&self) -> &Instance {
        self.instance.as_ref().expect("running")
    }
}

impl Http for TestApp {
    fn base(&self) -> &str {
        &self.base
    }

    fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }
}

impl Sql for TestApp {
    /// Through the app's own pool: no file opened per query.
    fn with_db<T>(&self, f: impl AsyncFnOnce(&Db) -> T) -> T {
        self.block_on(f(&self.db))
    }
}
