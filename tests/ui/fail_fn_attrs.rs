use lockdep::LockMap;

static MAP: LockMap = LockMap::new("map");

#[lockdep::requires_held()]
fn nothing_listed() {}

#[lockdep::section(MAP, mode = "sideways")]
fn bad_mode() {}

#[lockdep::section()]
fn no_map() {}

#[lockdep::must_not_hold(MAP)]
struct NotAFunction;

#[lockdep::signalling(MAP)]
async fn across_awaits() {}

fn main() {}
