//! `map`, `try_map` and `try_map_or_err` for every guard with a mapped form: the plain guard's
//! function of the same name does the mapping, and the validator's parts of the guard (its
//! lock, or the records a mapped guard keeps) move into the result, or come back with the
//! guard when `f` finds no part. Nothing is released or taken.

/// The mapping functions of a guard whose plain guard is `$plain`, mapping into `$mapped`
/// through `&$($m)* T` (`[mut]` for exclusive guards, `[]` for shared ones); `$or_err` names the
/// error-passing variant as the plain guard does. The guard has `into_parts(s) -> (plain,
/// parts)`, `from_parts(plain, parts)` and `to_mapped(parts)`, the parts its mapped guard keeps;
/// `$mapped` has `from_parts`.
macro_rules! map_fns {
    ($plain:ident $(:: $rest:ident)*, $mapped:ident, [$($m:tt)*], $or_err:ident) => {
        /// A guard for a part of the value; the lock stays held until it is dropped.
        #[inline]
        pub fn map<U: ?Sized, F>(s: Self, f: F) -> $mapped<'a, U>
        where
            F: FnOnce(&$($m)* T) -> &$($m)* U,
        {
            let (inner, parts) = Self::into_parts(s);
            $mapped::from_parts($plain $(:: $rest)*::map(inner, f), Self::to_mapped(parts))
        }

        /// Like [`map`](Self::map) when `f` may find no part: then the guard comes back.
        #[inline]
        pub fn try_map<U: ?Sized, F>(s: Self, f: F) -> Result<$mapped<'a, U>, Self>
        where
            F: FnOnce(&$($m)* T) -> Option<&$($m)* U>,
        {
            let (inner, parts) = Self::into_parts(s);
            match $plain $(:: $rest)*::try_map(inner, f) {
                Ok(inner) => Ok($mapped::from_parts(inner, Self::to_mapped(parts))),
                Err(inner) => Err(Self::from_parts(inner, parts)),
            }
        }

        /// Like [`try_map`](Self::try_map), passing on `f`'s error with the guard.
        #[inline]
        pub fn $or_err<U: ?Sized, F, E>(s: Self, f: F) -> Result<$mapped<'a, U>, (Self, E)>
        where
            F: FnOnce(&$($m)* T) -> Result<&$($m)* U, E>,
        {
            let (inner, parts) = Self::into_parts(s);
            match $plain $(:: $rest)*::$or_err(inner, f) {
                Ok(inner) => Ok($mapped::from_parts(inner, Self::to_mapped(parts))),
                Err((inner, e)) => Err((Self::from_parts(inner, parts), e)),
            }
        }
    };
}
