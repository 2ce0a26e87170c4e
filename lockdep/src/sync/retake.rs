//! Releasing a held lock for a while and taking it again through its guard (`unlocked`,
//! `unlocked_fair`, `bump`), as the validator sees it.
//!
//! While the lock is released it is off this thread's held stack, so what the thread does
//! meanwhile is not ordered after it. Taking it again is a blocking acquisition made on top of
//! whatever the thread holds at that moment: bumping (or leaving `unlocked`) a lock with other
//! locks taken after it orders those before it, which is a real inversion — the thread waits
//! for the lock while holding them, and the waiter it handed the lock to may want them.

use crate::engine::{validate, DepMap};
use std::panic::Location;

/// Holds the validator's record of a lock released for a while; dropping it records the
/// re-acquisition (validated), in the mode, subclass and nest lock it had. Dropped during an
/// unwind too, as the plain guards re-take their lock then.
pub(crate) struct Retake<'a> {
    map: &'a DepMap,
    token: validate::WaitToken,
    loc: &'static Location<'static>,
}

impl<'a> Retake<'a> {
    /// Takes `map`'s hold off this thread's stack.
    #[inline]
    pub(crate) fn release(map: &'a DepMap, loc: &'static Location<'static>) -> Self {
        Retake {
            map,
            token: validate::release_to_retake(map),
            loc,
        }
    }
}

impl Drop for Retake<'_> {
    fn drop(&mut self) {
        validate::reacquire_after_wait(self.map, self.token, self.loc);
    }
}

/// The release-for-a-while functions of a guard holding one record, `lock.$field` (its lock's
/// map, or an `RwLock`'s companion): `unlocked`, `unlocked_fair`, `unlock_fair` and `bump`,
/// over the plain guard's of the same names (`$plain`). The guard has `inner` (the plain
/// guard), `lock`, and `into_parts(s) -> (plain, lock)`.
macro_rules! retake_fns {
    ($plain:ident $(:: $rest:ident)*, $field:ident, $what:literal) => {
        #[doc = concat!("Releases the ", $what, " while `f` runs and takes it again afterwards (also")]
        /// if `f` panics); the re-acquisition is validated on top of what the thread then
        /// holds.
        #[track_caller]
        pub fn unlocked<F, U>(s: &mut Self, f: F) -> U
        where
            F: FnOnce() -> U,
        {
            let (map, loc) = (&s.lock.$field, std::panic::Location::caller());
            $plain $(:: $rest)*::unlocked(&mut s.inner, || {
                let _retake = crate::sync::retake::Retake::release(map, loc);
                f()
            })
        }

        /// Like [`unlocked`](Self::unlocked), handing the lock to a waiting thread first.
        #[track_caller]
        pub fn unlocked_fair<F, U>(s: &mut Self, f: F) -> U
        where
            F: FnOnce() -> U,
        {
            let (map, loc) = (&s.lock.$field, std::panic::Location::caller());
            $plain $(:: $rest)*::unlocked_fair(&mut s.inner, || {
                let _retake = crate::sync::retake::Retake::release(map, loc);
                f()
            })
        }

        #[doc = concat!("Releases the ", $what, ", handing the lock to a waiting thread if there is one.")]
        #[track_caller]
        #[inline]
        pub fn unlock_fair(s: Self) {
            let (inner, lock) = Self::into_parts(s);
            crate::engine::validate::release(&lock.$field, std::panic::Location::caller());
            $plain $(:: $rest)*::unlock_fair(inner);
        }

        /// Lets a waiting thread have the lock, then takes it again. Validated as a release and
        /// a blocking re-acquisition on top of what the thread holds, whether or not a thread
        /// was waiting this time: with locks taken after this one held, it waits for this lock
        /// while holding them.
        #[track_caller]
        pub fn bump(s: &mut Self) {
            drop(crate::sync::retake::Retake::release(&s.lock.$field, std::panic::Location::caller()));
            $plain $(:: $rest)*::bump(&mut s.inner);
        }
    };
}
