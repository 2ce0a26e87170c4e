//! The injected-bug catalogue. No kernel counterpart: simulates the locking mistakes real
//! drivers made, one switch each, so the validator can be shown to catch every one of them on
//! its first occurrence.
//!
//! A [`Bugs`] set travels with the configuration of a run (each [`crate::drm_drv::DrmDevice`]
//! keeps one); the code path that a bug changes asks `bugs.has(Bug::X)` at exactly the place
//! where the faulty driver did the wrong thing, and otherwise does what a correct driver does.
//! Names are the `--inject` names of the `drm-sim` binary and are promised to users.

use std::fmt;

macro_rules! bugs {
    ($($variant:ident = $name:literal : $desc:literal,)*) => {
        /// One injected locking bug.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Bug {
            $(#[doc = $desc] $variant,)*
        }

        impl Bug {
            /// Every bug, in catalogue order.
            pub const ALL: &'static [Bug] = &[$(Bug::$variant,)*];

            /// The `--inject` name.
            pub const fn name(self) -> &'static str {
                match self { $(Bug::$variant => $name,)* }
            }

            /// One line saying what the bug does and which real-world mistake it is.
            pub const fn description(self) -> &'static str {
                match self { $(Bug::$variant => $desc,)* }
            }
        }
    };
}

bugs! {
    WaitInSignalling = "wait-in-signalling":
        "a driver lock taken in run_job is held across a dma_fence_wait elsewhere (fence wait vs. signalling section)",
    AllocInRunJob = "alloc-in-run-job":
        "run_job allocates with GFP_KERNEL inside the fence signalling section (reclaim may wait on this very fence)",
    ResvInRunJob = "resv-in-run-job":
        "run_job takes a dma_resv lock inside the fence signalling section",
    CopyToUserUnderResv = "copy-to-user-under-resv":
        "an ioctl writes to user memory (put_user, mmap_lock) while holding a dma_resv lock, inverting the page-fault order",
    ShrinkerBlocksOnResv = "shrinker-blocks-on-resv":
        "the GEM shrinker takes dma_resv with a blocking lock instead of a trylock under fs_reclaim",
    ResvWithoutCtx = "resv-without-ctx":
        "two dma_resv locks taken without a ww_acquire_ctx (dma_resv_lock(obj, NULL) under another resv)",
    PinWithResvHeld = "pin-with-resv-held":
        "the unlocked drm_gem_shmem_pin wrapper is called with the object's resv already held (same-instance re-take)",
    SleepInFenceCallback = "sleep-in-fence-callback":
        "a dma_fence callback takes a mutex, sleeping in atomic context under the fence lock",
    FenceLockIrqUnsafe = "fence-lock-irq-unsafe":
        "a fence lock that the irq handler takes is taken without irqsave in process context",
    TdrTakesAllocLock = "tdr-takes-alloc-lock":
        "the TDR handler takes a driver lock that is held around GFP_KERNEL allocations",
    FenceReleaseUnderResv = "fence-release-under-resv":
        "a fence release callback takes a lock, reached from a final dma_fence_put under a dma_resv lock",
    FenceArrayLockInversion = "fence-array-lock-inversion":
        "a fence array's enable_signaling takes a member's lock while the member's signal callback takes the array's",
    CancelWorkUnderRunLock = "cancel-work-under-run-lock":
        "drm_sched_stop (cancel_work_sync on run_job) is called while holding a lock run_job takes",
    FaultUnderNotifierLock = "fault-under-notifier-lock":
        "a user copy (might_fault, mmap_lock) is made under the mmu-notifier driver lock",
    ResubmitJobs = "resubmit-jobs":
        "the deprecated drm_sched_resubmit_jobs path after a reset, which allocates inside the signalling section",
    FenceWaitInDevEnter = "fence-wait-in-dev-enter":
        "the driver's idle wait keeps its drm_dev_enter section open across the fence wait, which the unplug only ends after synchronize_srcu (R28)",
    UnplugInDevEnter = "unplug-in-dev-enter":
        "the driver's device-lost handler calls drm_dev_unplug from inside its own drm_dev_enter section, a grace period waiting for itself (R27)",
    LeakedDevEnter = "leaked-dev-enter":
        "the CPU_PREP ioctl returns to user space with its drm_dev_enter section still open, exited only by CPU_FINI (R26)",
    ModesetLockInTdr = "modeset-lock-in-tdr":
        "the GPU reset suspends the display with a full modeset (all modeset locks) inside the TDR's signalling section",
    ConsoleLockInTdr = "console-lock-in-tdr":
        "the GPU reset suspends and resumes the fbdev console (console_lock) inside the TDR's signalling section",
    BlockingLockInPanic = "blocking-lock-in-panic":
        "the panic handler takes the panic lock with a blocking raw_spin_lock instead of a trylock",
    SpinTrylockInPanic = "spin-trylock-in-panic":
        "the panic handler trylocks a spinlock_t (&dev->event_lock), which may sleep or loop on real-time kernels",
    PanDisplayReversed = "pan-display-reversed":
        "fbdev pan_display takes the modeset locks before client->modeset_mutex (the order drm_client_modeset_commit inverts)",
    RuntimePmInRunJob = "runtime-pm-in-run-job":
        "run_job wakes the GPU with pm_runtime_get_sync, whose resume takes clock/OPP locks held around allocations elsewhere",
    ResvInCommitTail = "resv-in-commit-tail":
        "the atomic commit tail takes a framebuffer's dma_resv before commit_hw_done, inside the signalling section",
    AllocInCommitTail = "alloc-in-commit-tail":
        "the atomic commit tail allocates with GFP_KERNEL before commit_hw_done, inside the signalling section",
    HrtimerCancelUnderVblankLock = "hrtimer-cancel-under-vblank-lock":
        "disable_vblank waits for the vblank hrtimer (hrtimer_cancel) under vblank_time_lock, which its callback takes",
    SpinlockUnderPanicLock = "spinlock-under-panic-lock":
        "swap_state takes a spinlock_t (the CRTC's commit_lock) inside the raw panic lock: invalid wait context",
}

impl Bug {
    /// The bug whose `--inject` name is `name`.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.iter().copied().find(|b| b.name() == name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of injected bugs (empty: a correct driver).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Bugs(u64);

impl Bugs {
    /// No bug: every path behaves as a correct driver.
    pub const NONE: Bugs = Bugs(0);

    /// This set plus `bug`.
    pub const fn with(self, bug: Bug) -> Bugs {
        Bugs(self.0 | 1 << bug as u8)
    }

    /// Whether `bug` is injected.
    pub const fn has(self, bug: Bug) -> bool {
        self.0 & (1 << bug as u8) != 0
    }

    /// Whether no bug is injected.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The injected bugs, in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::ALL.iter().copied().filter(move |b| self.has(*b))
    }
}

impl FromIterator<Bug> for Bugs {
    fn from_iter<I: IntoIterator<Item = Bug>>(iter: I) -> Self {
        iter.into_iter().fold(Bugs::NONE, Bugs::with)
    }
}

impl fmt::Debug for Bugs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for b in Bug::ALL {
            assert_eq!(Bug::from_name(b.name()), Some(*b));
        }
        let mut names: Vec<_> = Bug::ALL.iter().map(|b| b.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Bug::ALL.len());
        assert!(Bug::ALL.len() < 64, "Bugs is a u64 bitset");
    }

    #[test]
    fn set_holds_exactly_what_was_added() {
        let s: Bugs = [Bug::AllocInRunJob, Bug::ResubmitJobs].into_iter().collect();
        assert!(s.has(Bug::AllocInRunJob) && s.has(Bug::ResubmitJobs));
        assert!(!s.has(Bug::ResvInRunJob));
        assert_eq!(s.iter().count(), 2);
        assert!(Bugs::NONE.is_empty());
    }
}
