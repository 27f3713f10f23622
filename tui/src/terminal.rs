//! The real terminal: raw mode and the alternate screen (restored on exit,
//! on error and on panic), a thread turning terminal input into events, and
//! a clock.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use haetae_findings::Timestamp;
use ratatui::crossterm::event::{self, Event as TermEvent};

use crate::TuiError;
use crate::live::Live;
use crate::run::{Event, Exporter, run, sync_detail};
use crate::source::Source;
use crate::state::App;

fn input(tx: Sender<Event>, stop: Arc<AtomicBool>, terminate: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if terminate.swap(false, Ordering::Relaxed) && tx.send(Event::Terminate).is_err() {
            break;
        }
        match event::poll(Duration::from_millis(100)) {
            Ok(false) => {}
            Ok(true) => {
                let ev = match event::read() {
                    Ok(TermEvent::Key(k)) => Event::Key(k),
                    Ok(TermEvent::Resize(w, h)) => Event::Resize(w, h),
                    Ok(_) => continue,
                    Err(_) => break,
                };
                if tx.send(ev).is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
}

/// Run the app in the terminal until the user quits. `live`, when given,
/// carries a running scan's updates.
pub fn run_in_terminal(
    app: &mut App,
    source: &dyn Source,
    live: Option<Receiver<Live>>,
    exporter: Exporter<'_>,
) -> Result<(), TuiError> {
    if !std::io::stdout().is_terminal() {
        return Err(TuiError::Terminal("the TUI needs a terminal (stdout is not one)".to_owned()));
    }
    // Raw mode, the alternate screen, and a panic hook that restores both.
    let mut terminal = ratatui::try_init().map_err(|e| {
        ratatui::restore();
        TuiError::Terminal(format!("cannot set the terminal up: {e}"))
    })?;
    let (tx, rx) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    // SIGTERM and SIGHUP (a closed terminal window) quit like `q`, so the
    // terminal is restored and a running scan commits; Ctrl-C is a key.
    let terminate = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        if let Err(e) = signal_hook::flag::register(sig, terminate.clone()) {
            ratatui::restore();
            return Err(TuiError::Terminal(format!("cannot install a signal handler: {e}")));
        }
    }
    let reader = {
        let (tx, stop) = (tx.clone(), stop.clone());
        std::thread::spawn(move || input(tx, stop, terminate))
    };
    if let Some(live) = live {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for ev in live {
                if tx.send(Event::Live(ev)).is_err() {
                    break;
                }
            }
        });
    }
    {
        let (tx, stop) = (tx, stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                if tx.send(Event::Tick(Timestamp::now())).is_err() {
                    break;
                }
            }
        });
    }
    sync_detail(app, source);
    let r = run(&mut terminal, app, source, &rx, exporter);
    ratatui::restore();
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    r
}
