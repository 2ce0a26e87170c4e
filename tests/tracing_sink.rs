//! The `tracing` sink: each report is also a WARN event with target `lockdep` and the
//! report's fields, caught here by a capturing subscriber; code that reports nothing emits
//! nothing.

use lockdep::{LockClass, Mutex};
use lockdep_suite::serial;
use std::sync::{Arc, Mutex as StdMutex};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

static TRACE_A: LockClass = LockClass::new("trace_a");
static TRACE_B: LockClass = LockClass::new("trace_b");

#[derive(Clone, Debug, Default)]
struct Captured {
    target: String,
    level: Option<Level>,
    fields: Vec<(String, String)>,
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_string(), format!("{value:?}")));
    }
}

struct Capture(Arc<StdMutex<Vec<Captured>>>);

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut c = Captured {
            target: event.metadata().target().to_string(),
            level: Some(*event.metadata().level()),
            ..Captured::default()
        };
        event.record(&mut Fields(&mut c.fields));
        self.0.lock().unwrap().push(c);
    }
}

fn field<'a>(c: &'a Captured, name: &str) -> &'a str {
    c.fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no field {name} in {c:?}"))
}

#[test]
fn each_report_is_a_warn_event_with_its_fields() {
    let _s = serial();
    let events = Arc::new(StdMutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Capture(events.clone()));
    let reports = tracing::subscriber::with_default(subscriber, || {
        let (a, b) = (Mutex::with_class((), &TRACE_A), Mutex::with_class((), &TRACE_B));
        drop((a.lock(), b.lock()));
        {
            let _b = b.lock();
            let _a = a.lock();
        }
        // A correct order again: no more events.
        drop((a.lock(), b.lock()));
        lockdep::take_reports()
    });
    let events = events.lock().unwrap().clone();
    assert_eq!(reports.len(), 1);
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &events[0];
    assert_eq!(e.target, "lockdep");
    assert_eq!(e.level, Some(Level::WARN));
    assert_eq!(field(e, "kind"), "circular_dependency");
    assert_eq!(
        field(e, "headline"),
        "WARNING: possible circular locking dependency detected"
    );
    assert_eq!(field(e, "classes"), "trace_a, trace_b");
    assert_eq!(field(e, "summary"), "trace_a -> trace_b -> trace_a");
    assert_eq!(field(e, "signature"), reports[0].signature());
    assert_eq!(field(e, "thread"), reports[0].thread());
    assert_eq!(field(e, "message"), reports[0].to_string());
}
