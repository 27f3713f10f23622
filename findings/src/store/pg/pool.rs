//! Connections to PostgreSQL, each owned by a thread of its own.
//!
//! The synchronous `postgres` client runs a small tokio runtime of its own
//! and must not be called from inside another runtime's task; the store is
//! called from both. A job is a closure sent to whichever connection thread
//! is free; the caller waits for its answer at most [`JOB_DEADLINE`].
//! A connection found closed (server restarted, network cut) is opened again
//! before the next job.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::Client;

use super::{Fail, PgTarget, engine, retryable};
use crate::error::StoreError;

/// The longest a store call waits for its answer (the server's own
/// `statement_timeout` is set lower, so this only fires when the server or
/// the network went silent).
const JOB_DEADLINE: Duration = Duration::from_secs(180);

/// Server-side limits set on every connection: no statement, lock wait or
/// idle transaction can hold a connection (and its caller) forever.
const SESSION_LIMITS: &str = "SET statement_timeout = '120s'; SET lock_timeout = '60s'; \
     SET idle_in_transaction_session_timeout = '120s'; SET client_min_messages = 'warning'";

/// How many times a transaction is run again after a serialization failure.
const RETRIES: u32 = 40;

/// A request: gets a connection, or why there is none.
type Job = Box<dyn FnOnce(Result<&mut Client, StoreError>) + Send>;

pub(super) struct Pool {
    jobs: Mutex<Option<Sender<Job>>>,
    target: Arc<PgTarget>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the channel ends every connection thread after its job.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        for t in self.threads.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            let _ = t.join();
        }
    }
}

impl Pool {
    /// Open `size` connections (the first one synchronously, so a wrong URL
    /// or password is reported by `open`).
    pub(super) fn connect(target: &PgTarget, size: usize) -> Result<Pool, StoreError> {
        let target = Arc::new(target.clone());
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        // Even the first connection is made on its own thread: the caller
        // may be a tokio task, where the synchronous client must not block.
        let (ready_tx, ready_rx) = sync_channel::<Result<(), StoreError>>(1);
        let mut threads = Vec::with_capacity(size);
        for i in 0..size.max(1) {
            let rx = Arc::clone(&rx);
            let mine = Arc::clone(&target);
            let ready = (i == 0).then(|| ready_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("haetae-pg-{i}"))
                .spawn(move || {
                    let client = match ready {
                        Some(ready) => match connect(&mine) {
                            Ok(c) => {
                                let _ = ready.send(Ok(()));
                                Some(c)
                            }
                            Err(e) => {
                                let _ = ready.send(Err(e));
                                return;
                            }
                        },
                        None => None,
                    };
                    serve(&mine, client, &rx);
                })
                .map_err(|e| StoreError::Engine {
                    dir: target.label.clone(),
                    message: format!("cannot start a connection thread: {e}"),
                })?;
            threads.push(handle);
        }
        drop(ready_tx);
        let pool = Pool { jobs: Mutex::new(Some(tx)), target: Arc::clone(&target), threads: Mutex::new(threads) };
        match ready_rx.recv_timeout(JOB_DEADLINE) {
            Ok(Ok(())) => Ok(pool),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Engine {
                dir: target.label.clone(),
                message: format!("PostgreSQL did not accept a connection within {} s", JOB_DEADLINE.as_secs()),
            }),
        }
    }

    /// Run `f` on a connection and return its answer.
    pub(super) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply_tx, reply_rx): (SyncSender<Result<R, StoreError>>, Receiver<_>) = sync_channel(1);
        let job: Job = Box::new(move |client| {
            let _ = reply_tx.send(client.and_then(f));
        });
        let gone = || StoreError::Engine { dir: self.target.label.clone(), message: "the store is closed".into() };
        {
            let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.as_ref().ok_or_else(gone)?.send(job).map_err(|_| gone())?;
        }
        match reply_rx.recv_timeout(JOB_DEADLINE) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(StoreError::Engine {
                dir: self.target.label.clone(),
                message: format!("PostgreSQL did not answer within {} s", JOB_DEADLINE.as_secs()),
            }),
            Err(RecvTimeoutError::Disconnected) => Err(StoreError::Engine {
                dir: self.target.label.clone(),
                message: "the connection to PostgreSQL was lost while it ran the request".into(),
            }),
        }
    }

    /// Run `body` in one SERIALIZABLE transaction on a connection, again
    /// from the start while PostgreSQL asks for a retry.
    pub(super) fn transact<R: Send + 'static>(
        &self,
        body: impl FnMut(&mut postgres::Transaction<'_>) -> Result<R, Fail> + Send + 'static,
    ) -> Result<R, StoreError> {
        let label = self.target.label.clone();
        self.run(move |client| transact_on(client, &label, body))
    }
}

/// [`Pool::transact`] on a connection already held.
pub(super) fn transact_on<R>(
    client: &mut Client,
    label: &std::path::Path,
    mut body: impl FnMut(&mut postgres::Transaction<'_>) -> Result<R, Fail>,
) -> Result<R, StoreError> {
    let mut attempt = 0u32;
    loop {
        let result = (|| -> Result<R, Fail> {
            let mut tx = client.build_transaction().isolation_level(postgres::IsolationLevel::Serializable).start()?;
            let r = body(&mut tx)?;
            tx.commit()?;
            Ok(r)
        })();
        match result {
            Ok(r) => return Ok(r),
            Err(Fail::Store(e)) => return Err(e),
            Err(Fail::Db(e)) if retryable(&e) && attempt < RETRIES => {
                attempt += 1;
                // A short pause that grows, different in every process, so
                // two writers that collided do not collide again in step.
                let spread = u64::from(std::process::id() % 7 + 1) * u64::from(attempt.min(10));
                std::thread::sleep(Duration::from_millis(spread));
            }
            Err(Fail::Db(e)) => return Err(engine(label, &e)),
        }
    }
}

fn connect(target: &PgTarget) -> Result<Client, StoreError> {
    let mut client = if target.tls {
        let tls = super::tls::connector(target.roots.as_deref())
            .map_err(|message| StoreError::Engine { dir: target.label.clone(), message: format!("TLS: {message}") })?;
        target.config.connect(tls).map_err(|e| engine(&target.label, &e))?
    } else {
        target.config.connect(postgres::NoTls).map_err(|e| engine(&target.label, &e))?
    };
    client.batch_execute(SESSION_LIMITS).map_err(|e| engine(&target.label, &e))?;
    Ok(client)
}

/// A connection thread: take jobs until the pool is dropped.
fn serve(target: &PgTarget, mut client: Option<Client>, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|p| p.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if client.as_ref().is_none_or(Client::is_closed) {
            client = None;
            match connect(target) {
                Ok(c) => client = Some(c),
                // The caller hears why; the next job tries again.
                Err(e) => {
                    job(Err(e));
                    continue;
                }
            }
        }
        match client.as_mut() {
            Some(c) => job(Ok(c)),
            None => job(Err(StoreError::Engine { dir: target.label.clone(), message: "no connection".into() })),
        }
    }
}
