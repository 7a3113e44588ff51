//! Admission: at most `--max-connections` sessions at once, the last
//! `--superuser-reserved-connections` of them only for `--superusers`, as PostgreSQL's
//! `max_connections` and `superuser_reserved_connections` do. A connection holds a
//! [`Slot`] from accept to close; the check runs once the user is known (after
//! authentication), and a refused connection gets PostgreSQL's FATAL 53300.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::ServerError;

#[derive(Debug)]
pub struct Admission {
    max: usize,
    reserved: usize,
    superusers: HashSet<String>,
    open: AtomicUsize,
}

/// One open connection; dropping it frees the slot, and so does [`Slot::release`] (a
/// refused connection frees its slot before it is told, so a client that connects again at
/// once is not counted twice).
#[derive(Debug)]
pub struct Slot {
    admission: Arc<Admission>,
    released: AtomicBool,
}

impl Slot {
    pub fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.admission.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

impl Admission {
    pub fn new(max: usize, reserved: usize, superusers: impl IntoIterator<Item = String>) -> Result<Arc<Self>, ServerError> {
        if max == 0 || reserved >= max {
            let message = format!("--superuser-reserved-connections ({reserved}) must be less than --max-connections ({max})");
            return Err(ServerError::Config { message });
        }
        Ok(Arc::new(Admission { max, reserved, superusers: superusers.into_iter().collect(), open: AtomicUsize::new(0) }))
    }

    /// Count a newly accepted connection.
    pub fn occupy(self: &Arc<Self>) -> Arc<Slot> {
        self.open.fetch_add(1, Ordering::AcqRel);
        Arc::new(Slot { admission: self.clone(), released: AtomicBool::new(false) })
    }

    /// Whether `user`, whose connection already holds a slot, may have a session.
    pub fn admit(&self, user: &str) -> Result<(), ServerError> {
        let open = self.open.load(Ordering::Acquire);
        if open > self.max {
            return Err(ServerError::TooManyConnections);
        }
        if open > self.max - self.reserved && !self.superusers.contains(user) {
            return Err(ServerError::ReservedConnections);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_slots_are_for_superusers_and_closing_frees_a_slot() {
        let admission = Admission::new(3, 1, ["root".to_string()]).unwrap();
        let first = admission.occupy();
        assert!(admission.admit("app").is_ok());
        let second = admission.occupy();
        assert!(admission.admit("app").is_ok());
        let third = admission.occupy();
        assert!(matches!(admission.admit("app"), Err(ServerError::ReservedConnections)));
        assert!(admission.admit("root").is_ok());
        let fourth = admission.occupy();
        assert!(matches!(admission.admit("root"), Err(ServerError::TooManyConnections)));
        fourth.release();
        fourth.release();
        assert!(admission.admit("root").is_ok());
        drop((fourth, third));
        assert!(admission.admit("app").is_ok());
        drop((first, second));
        assert!(Admission::new(2, 2, []).is_err());
    }
}
