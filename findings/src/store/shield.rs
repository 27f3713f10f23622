//! Turning the storage engine's panics into errors.
//!
//! sled 0.34 panics (index out of bounds, failed assertions) instead of
//! returning an error when its files are cut short or overwritten, both while
//! recovering in `open` and while paging data in. A damaged file is an input
//! haetae must report, not a crash, so every call into sled that can meet
//! damage runs under [`shielded`], which catches the panic with
//! `std::panic::catch_unwind` and hands back its message. The caller turns it
//! into [`crate::StoreError::Damaged`] and never uses the sled handle again
//! (its state after a panic is unknown; only dropping it is safe).
//!
//! The default panic hook would still print "thread 'main' panicked at ..."
//! for a caught panic. A hook installed once per process (chained to the hook
//! that was in place) stays silent while the panicking thread is inside
//! [`shielded`]. The flag is per thread, so there is no window in which
//! another thread's panic is silenced; the one race left is with other code
//! replacing the hook at the same moment as the first [`shielded`] call,
//! which at worst makes the caught panic print its message.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// How many [`shielded`] calls this thread is inside.
    static QUIET: Cell<u32> = const { Cell::new(0) };
}

static HOOK: Once = Once::new();

fn install_quiet_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // `try_with`: a panic while this thread's locals are torn down still prints.
            if QUIET.try_with(Cell::get).unwrap_or(0) == 0 {
                previous(info);
            }
        }));
    });
}

/// Run `f`; a panic inside it becomes `Err(message)`, without the panic
/// message printed on stderr. Only for calls into the storage engine.
pub(crate) fn shielded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    QUIET.with(|q| q.set(q.get().saturating_add(1)));
    // AssertUnwindSafe: after a panic the caller reports the store as damaged
    // and drops whatever `f` touched; nothing half-updated is read again.
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(q.get().saturating_sub(1)));
    result.map_err(|payload| {
        if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "no message".to_owned()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_values_pass_through() {
        assert_eq!(shielded(|| 7), Ok(7));
        let v: Vec<u8> = Vec::new();
        let idx = v.len() + 3;
        let r = shielded(|| v.get(idx).copied().unwrap_or_else(|| panic!("index {idx} out of bounds")));
        assert_eq!(r, Err("index 3 out of bounds".to_owned()));
        let r: Result<(), String> = shielded(|| std::panic::panic_any(5u8));
        assert_eq!(r, Err("no message".to_owned()));
        // The flag is back to zero: later panics print again.
        assert_eq!(QUIET.with(Cell::get), 0);
    }
}
