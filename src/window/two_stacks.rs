//! Sliding aggregation without an inverse: the two-stacks queue over panes.
//!
//! The window is a queue of pane aggregates. New panes go on the back, folded into one running
//! back aggregate. The front is a stack of suffix aggregates of older panes (the top covers all
//! of them). A slide pushes the entering panes and pops the expiring ones; when the front runs
//! out, the back's panes are turned into suffix aggregates in one pass. Every pane is merged a
//! constant number of times over its life, so a slide costs amortised O(1) pane merges plus the
//! one merge that answers the query, whatever the window's length. Every operation changes the
//! queue only after its merges succeeded: a failing (or panicking) merge leaves it as it was.

use crate::error::Result;
use crate::time::Time;

/// Associative merge of two aggregates (older first).
pub(crate) type Merge<'m, A> = &'m dyn Fn(&A, &A) -> Result<A>;

/// A sliding window of pane aggregates of type `A`, each tagged with its pane's end time.
pub(crate) struct TwoStacks<A> {
    /// Suffix aggregates, the oldest pane's (covering the whole front) on top.
    front: Vec<(Time, A)>,
    /// Panes pushed since the last flip, oldest first.
    back: Vec<(Time, A)>,
    back_aggregate: Option<A>,
}

impl<A: Clone> TwoStacks<A> {
    pub(crate) fn new() -> Self {
        TwoStacks {
            front: Vec::new(),
            back: Vec::new(),
            back_aggregate: None,
        }
    }

    /// The end time of the newest pane held.
    pub(crate) fn newest(&self) -> Option<Time> {
        self.back
            .last()
            .or_else(|| self.front.first())
            .map(|(t, _)| *t)
    }

    fn oldest(&self) -> Option<Time> {
        self.front
            .last()
            .or_else(|| self.back.first())
            .map(|(t, _)| *t)
    }

    /// Appends the pane ending at `end` (newer than every pane held).
    pub(crate) fn push(&mut self, end: Time, pane: A, merge: Merge<'_, A>) -> Result<()> {
        let aggregate = match &self.back_aggregate {
            Some(acc) => merge(acc, &pane)?,
            None => pane.clone(),
        };
        self.back.push((end, pane));
        self.back_aggregate = Some(aggregate);
        Ok(())
    }

    /// Removes the panes ending at or before `cutoff`.
    pub(crate) fn evict_through(&mut self, cutoff: Time, merge: Merge<'_, A>) -> Result<()> {
        while self.oldest().is_some_and(|t| t <= cutoff) {
            if self.front.is_empty() {
                self.flip(merge)?;
            }
            self.front.pop();
        }
        Ok(())
    }

    /// Turns the back's panes into suffix aggregates on the front. Nothing changes until every
    /// merge has succeeded, so a failing merge leaves the queue as it was.
    fn flip(&mut self, merge: Merge<'_, A>) -> Result<()> {
        let mut suffix: Option<A> = None;
        let mut front = Vec::with_capacity(self.back.len());
        for (end, pane) in self.back.iter().rev() {
            let s = match &suffix {
                Some(newer) => merge(pane, newer)?,
                None => pane.clone(),
            };
            suffix = Some(s.clone());
            front.push((*end, s));
        }
        self.front = front;
        self.back.clear();
        self.back_aggregate = None;
        Ok(())
    }

    /// The aggregate of every pane held, or `None` if there is none.
    pub(crate) fn query(&self, merge: Merge<'_, A>) -> Result<Option<A>> {
        Ok(match (self.front.last(), &self.back_aggregate) {
            (Some((_, f)), Some(b)) => Some(merge(f, b)?),
            (Some((_, f)), None) => Some(f.clone()),
            (None, Some(b)) => Some(b.clone()),
            (None, None) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn sliding_sums_and_concatenations_match_a_recompute_with_few_merges() {
        // Strings under concatenation: associative, not commutative, so order is checked too.
        let merges = Cell::new(0usize);
        let merge = |a: &String, b: &String| -> Result<String> {
            merges.set(merges.get() + 1);
            Ok(format!("{a}{b}"))
        };
        let window = 7;
        let mut q = TwoStacks::new();
        let n = 200;
        for i in 1..=n {
            let t = Time::from_millis(i);
            q.push(t, format!("{} ", i), &merge).unwrap();
            q.evict_through(Time::from_millis(i - window), &merge)
                .unwrap();
            let expected: String = ((i - window + 1).max(1)..=i)
                .map(|k| format!("{k} "))
                .collect();
            assert_eq!(q.query(&merge).unwrap().unwrap(), expected, "at {i}");
            assert_eq!(q.newest(), Some(t));
        }
        // push (1) + query (1) + flip (1 per pane) per slide: at most 3 merges a slide.
        assert!(merges.get() <= 3 * n as usize, "{} merges", merges.get());
    }

    #[test]
    fn a_failing_merge_leaves_the_queue_as_it_was() {
        let fail = Cell::new(false);
        let merge = |a: &i64, b: &i64| -> Result<i64> {
            if fail.get() {
                Err(crate::Error::Internal("merge failed".into()))
            } else {
                Ok(a + b)
            }
        };
        let mut q = TwoStacks::new();
        for i in 1..=4 {
            q.push(Time::from_millis(i), i, &merge).unwrap();
        }
        fail.set(true);
        // Evicting pane 1 needs a flip, which fails; so does pushing pane 5.
        assert!(q.evict_through(Time::from_millis(1), &merge).is_err());
        assert!(q.push(Time::from_millis(5), 5, &merge).is_err());
        fail.set(false);
        assert_eq!(q.query(&merge).unwrap(), Some(10));
        q.evict_through(Time::from_millis(1), &merge).unwrap();
        assert_eq!(q.query(&merge).unwrap(), Some(9));
    }

    #[test]
    fn evicting_everything_leaves_an_empty_window() {
        let merge = |a: &i64, b: &i64| -> Result<i64> { Ok(a + b) };
        let mut q = TwoStacks::new();
        q.push(Time::from_millis(1), 5, &merge).unwrap();
        q.push(Time::from_millis(2), 6, &merge).unwrap();
        q.evict_through(Time::from_millis(2), &merge).unwrap();
        assert_eq!(q.query(&merge).unwrap(), None);
        assert_eq!(q.newest(), None);
    }
}
