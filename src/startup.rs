//! Wiring: settings → database, token keys, message factory; the `serve` application.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Settings;
use crate::db::Db;
use crate::http::{AppState, router};
use crate::message::MessageFactory;
use crate::metrics::Metrics;
use crate::optin::Confirmations;
use crate::token::TokenKeys;
use crate::worker::Worker;

/// What every command needs: settings, the open database and the message factory.
pub struct Context {
    pub settings: Settings,
    pub db: Db,
    pub factory: MessageFactory,
    pub metrics: Arc<Metrics>,
}

impl Context {
    pub async fn open(settings: Settings) -> Result<Self> {
        let db = Db::open(&settings.database.path).await?;
        let keys = token_keys(&settings, &db).await?;
        let factory = MessageFactory::new(&settings, keys)?;
        let metrics = Arc::new(Metrics::new());
        Ok(Self {
            settings,
            db,
            factory,
            metrics,
        })
    }

    /// The HTTP handlers' state, with a sender of double opt-in confirmations of its own.
    pub fn app_state(&self) -> Result<AppState> {
        let optin = Confirmations::new(&self.settings, self.db.clone(), self.factory.clone())?;
        AppState::new(
            &self.settings,
            self.db.clone(),
            self.factory.keys().clone(),
            self.metrics.clone(),
            Arc::new(optin),
            self.factory.clone(),
        )
    }

    pub fn worker(&self) -> Result<Worker> {
        Worker::new(
            self.db.clone(),
            &self.settings,
            self.factory.clone(),
            self.metrics.clone(),
        )
    }
}

/// The configured key, or one generated on first use and kept in the database so that links
/// in mail already sent stay valid.
async fn token_keys(settings: &Settings, db: &Db) -> Result<TokenKeys> {
    let s = &settings.secrets;
    let current = if s.token_key.is_empty() {
        db.meta_get_or_insert("token_key", || {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("operating system random source");
            data_encoding::HEXLOWER.encode(&bytes)
        })
        .await?
    } else {
        s.token_key.expose().to_string()
    };
    let previous: Vec<&str> = s.previous_token_keys.iter().map(|k| k.expose()).collect();
    TokenKeys::new(&current, &previous).context("secrets.previous_token_keys")
}

/// `mailroom serve`: the HTTP server and the worker, stopped together.
pub struct Application {
    listener: TcpListener,
    context: Context,
    state: AppState,
}

impl Application {
    /// Binds the configured address (port 0 picks a free one, as tests do).
    pub async fn build(settings: Settings) -> Result<Self> {
        let bind = settings.http.bind;
        let context = Context::open(settings).await?;
        let state = context.app_state()?;
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        Ok(Self {
            listener,
            context,
            state,
        })
    }

    /// The settings, database and message factory it serves with: tests drive a worker of
    /// their own from it, a batch at a time.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The sender of double opt-in confirmations, which tests can wait on (`drain`).
    pub fn confirmations(&self) -> Arc<Confirmations> {
        self.state.optin.clone()
    }

    /// The click counter the server uses, whose clock tests move forward.
    pub fn clicks(&self) -> Arc<crate::clicks::Clicks> {
        self.state.clicks.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves HTTP, and delivers too when `with_worker`, until `shutdown` turns true.
    pub async fn run_until_stopped(
        self,
        shutdown: watch::Receiver<bool>,
        with_worker: bool,
    ) -> Result<()> {
        let worker = if with_worker {
            Some(self.context.worker()?)
        } else {
            None
        };
        let state = self.state;
        let optin = state.optin.clone();
        // Forget idle clients now and then, so the per-IP limiter's memory stays bounded.
        let limiter = state.limiter.clone();
        let dashboard = state.dashboard.clone();
        let pruner = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                limiter.retain_recent();
                if let Some(dashboard) = &dashboard {
                    dashboard.prune();
                }
            }
        });
        let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
        let mut http_shutdown = shutdown.clone();
        let server = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            let _ = http_shutdown.wait_for(|s| *s).await;
        });
        // On a runtime thread, as `mailroom worker` runs it: the tasks it spawns per message
        // then start and finish on that thread instead of hopping to and from this one.
        let work = async {
            match worker {
                Some(worker) => tokio::spawn(async move {
                    worker.run_until_stopped(shutdown, false).await.map(|_| ())
                })
                .await
                .context("the delivery worker stopped abnormally")?,
                None => Ok(()),
            }
        };
        let (http, work) = tokio::join!(server, work);
        pruner.abort();
        optin.drain(std::time::Duration::from_secs(10)).await;
        http.context("HTTP server")?;
        work
    }
}

/// A channel that turns true on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: finishing messages in flight");
        let _ = tx.send(true);
    });
    rx
}
