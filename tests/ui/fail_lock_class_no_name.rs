#[lockdep::lock_class]
struct NoName {
    lock: lockdep::Mutex<()>,
}

#[lockdep::lock_class(name = 42)]
struct NotAString;

#[lockdep::lock_class(nme = "typo")]
struct Typo;

#[lockdep::lock_class(name = "on a function")]
fn not_a_type() {}

fn main() {}
