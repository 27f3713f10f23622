//! The main loop, generic over the ratatui backend: events in, `App::update`,
//! effects performed against the `Source`, one frame drawn per batch of events.

use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use haetae_findings::export::{Format, Lang};
use haetae_findings::{Finding, Timestamp};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::KeyEvent;

use crate::TuiError;
use crate::action::keymap;
use crate::dialog::ExportRequest;
use crate::draw::draw;
use crate::live::Live;
use crate::row::Row;
use crate::source::Source;
use crate::state::{App, Effect};

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal was resized.
    Resize(u16, u16),
    /// The scan reported.
    Live(Live),
    /// Time passed (ages and due dates move on).
    Tick(Timestamp),
    /// The process was asked to stop (SIGTERM, SIGHUP): quit like `q`.
    Terminate,
}

/// An export the user asked for.
#[derive(Debug)]
pub struct ExportJob<'a> {
    /// The findings, whole.
    pub findings: &'a [Finding],
    /// Format.
    pub format: Format,
    /// Language of the labels.
    pub lang: Lang,
    /// File to write.
    pub path: &'a std::path::Path,
    /// What chose the findings, in words.
    pub filters: &'a [String],
}

/// Writes an export (the binary knows the engagement) and says what it wrote.
pub type Exporter<'a> = &'a dyn Fn(&ExportJob<'_>) -> Result<String, String>;

/// Load everything the app shows from `source`.
pub fn load(app: &mut App, source: &dyn Source) -> Result<(), TuiError> {
    let rows: Vec<Row> = source.rows()?;
    app.set_rows(rows);
    app.set_scans(source.scans()?);
    app.set_assets(source.assets()?);
    Ok(())
}

/// Run until the user quits or `events` closes. The app must already be
/// loaded (`load`).
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    source: &dyn Source,
    events: &Receiver<Event>,
    exporter: Exporter<'_>,
) -> Result<(), TuiError> {
    let size = terminal.size().map_err(|e| TuiError::Terminal(e.to_string()))?;
    app.resize(size.width, size.height);
    sync_detail(app, source);
    frame(terminal, app)?;
    while let Ok(ev) = events.recv() {
        let mut quit = handle(app, source, exporter, ev);
        // Whatever else is already waiting is handled before the next frame.
        while !quit {
            match events.try_recv() {
                Ok(ev) => quit = handle(app, source, exporter, ev),
                Err(_) => break,
            }
        }
        if quit {
            break;
        }
        sync_detail(app, source);
        frame(terminal, app)?;
    }
    Ok(())
}

fn frame<B: Backend>(terminal: &mut Terminal<B>, app: &App) -> Result<(), TuiError> {
    terminal.draw(|f| draw(f, app)).map(|_| ()).map_err(|e| TuiError::Terminal(e.to_string()))
}

/// Handle one event; true to quit.
pub fn handle(app: &mut App, source: &dyn Source, exporter: Exporter<'_>, ev: Event) -> bool {
    let effect = match ev {
        Event::Key(k) => keymap(&app.mode, k).and_then(|a| app.update(a)),
        Event::Resize(w, h) => {
            app.resize(w, h);
            None
        }
        Event::Live(l) => app.live(l),
        Event::Tick(now) => {
            app.now = now;
            None
        }
        Event::Terminate => Some(Effect::Quit),
    };
    match effect {
        None => false,
        Some(Effect::Quit) => true,
        Some(e) => {
            perform(app, source, exporter, e);
            false
        }
    }
}

/// Keep the detail pane on the selected finding.
pub fn sync_detail(app: &mut App, source: &dyn Source) {
    let Some(id) = app.selected_id().map(str::to_owned) else {
        app.detail = None;
        return;
    };
    if app.detail.as_ref().is_some_and(|d| d.id == id) {
        return;
    }
    match source.finding(&id) {
        Ok(f) => app.detail = f,
        Err(e) => app.message = Some((true, e.to_string())),
    }
}

fn fetch(source: &dyn Source, ids: &[String]) -> Result<Vec<Finding>, String> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(f) = source.finding(id).map_err(|e| e.to_string())? {
            out.push(f);
        }
    }
    Ok(out)
}

fn perform(app: &mut App, source: &dyn Source, exporter: Exporter<'_>, effect: Effect) {
    match effect {
        Effect::Quit => {}
        Effect::Triage(groups) => {
            let mut done = Vec::new();
            let mut failed = None;
            for (ids, t) in &groups {
                match source.triage(ids, t) {
                    Ok(f) => done.extend(f),
                    Err(e) => failed = Some(e.to_string()),
                }
            }
            match failed {
                None => app.triaged(Ok(done)),
                Some(e) => {
                    app.merge(&done);
                    app.triaged(Err(e));
                }
            }
        }
        Effect::Export(ExportRequest { ids, format, lang, path, filters }) => {
            let mut path = PathBuf::from(path);
            if path.extension().is_none() {
                path.set_extension(format.extension());
            }
            let r = fetch(source, &ids).and_then(|findings| {
                exporter(&ExportJob { findings: &findings, format, lang, path: &path, filters: &filters })
            });
            app.message = Some(match r {
                Ok(m) => (false, m),
                Err(e) => (true, format!("export failed: {e}")),
            });
        }
        Effect::Reload(ids) => match fetch(source, &ids) {
            Ok(found) => app.merge(&found),
            Err(e) => app.message = Some((true, e)),
        },
        Effect::ReloadAll => {
            if let Err(e) = load(app, source) {
                app.message = Some((true, e.to_string()));
            }
        }
        Effect::ReloadAssets => match source.assets() {
            Ok(a) => app.set_assets(a),
            Err(e) => app.message = Some((true, e.to_string())),
        },
        Effect::ReloadScans => match source.scans() {
            Ok(s) => app.set_scans(s),
            Err(e) => app.message = Some((true, e.to_string())),
        },
    }
}
