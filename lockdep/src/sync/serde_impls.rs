//! `serde` support (the `serde` feature), as `parking_lot`'s: a lock serializes as its value,
//! taken under the lock, and deserializes into a new unlocked lock.
//!
//! Serializing locks the lock like any `lock()`/`read()` (so it is validated: serializing a
//! lock this thread holds is reported, and panics instead of hanging, as with `check` on any
//! re-take). A deserialized lock's class is where `deserialize` was called from — for a
//! derived `Deserialize`, the derive's expansion in the containing type — so every lock
//! deserialized through one impl shares a class; give it a named class with `with_class` if
//! such locks nest.

use super::{FairMutex, Mutex, ReentrantMutex, RwLock};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `Serialize` (under the lock, taken with `$take`) and `Deserialize` for `$lock`.
macro_rules! serde_lock {
    ($lock:ident, $take:ident) => {
        impl<T: ?Sized + Serialize> Serialize for $lock<T> {
            #[cfg_attr(feature = "check", track_caller)]
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.$take().serialize(serializer)
            }
        }

        impl<'de, T: Deserialize<'de>> Deserialize<'de> for $lock<T> {
            #[cfg_attr(feature = "check", track_caller)]
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // Not `.map($lock::new)`: through a fn item the class would be a line in core.
                let value = T::deserialize(deserializer)?;
                Ok($lock::new(value))
            }
        }
    };
}

serde_lock!(Mutex, lock);
serde_lock!(FairMutex, lock);
serde_lock!(RwLock, read);
serde_lock!(ReentrantMutex, lock);
