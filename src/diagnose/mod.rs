//! `GET /__clerk/admin/diagnose`: what each dependency of the edge does right now, measured,
//! with a verdict and what to do about it.
//!
//! [`live`] keeps the isolate-local record of recent protected-request decisions;
//! [`report`] turns the measured facts of each probe (taken by the adapters) into the
//! diagnosis, its JSON and text forms and its audit line. Both are sans-IO.

pub mod live;
pub mod report;
