//! Views without a lifetime: what the closures of DStream operations receive for strings
//! ([`Str`]), byte strings ([`ByteStr`]) and lists ([`Seq`]).
//!
//! A DStream closure is kept in the graph and called for every element of every batch, so its
//! argument cannot borrow any one batch in a way Rust can name: a bound such as
//! `for<'a> Fn(&'a str) -> (&'a str, i32)` is not something a closure's result type can be
//! inferred against. Spark-shaped closures (`|w| (w, 1)`, `|line| line.split(' ')`) return views
//! of their argument all the same, because the argument is a `Str`: a pointer into the batch's
//! buffer plus the engine's *call scope* it was handed out in. A `Str` returned in a result is
//! recorded as a view of that buffer (no copy); a `Str` read after its scope closed (kept in a
//! thread-local, say) panics instead of reading memory that may be gone.
//!
//! The engine opens a scope around its calls of a closure over one partition, on the thread
//! making them, and closes it before the partition's buffers can be dropped. Scopes nest (a
//! worker thread may run another partition while a closure waits), and only the innermost open
//! scope's views can be read; the views are neither `Send` nor `Sync`, so they never reach
//! another thread.

use super::{ByteString, Column, Data, ListRef, Value};
use crate::text::{Cuts, Piece, Separator, SplitJava, java_cuts};
use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ops::{Bound, Deref, RangeBounds};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

/// Scope ids are unique in the process, so no two scopes ever share one.
static NEXT_SCOPE: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The innermost open scope on this thread (0: none).
    static INNERMOST: Cell<u64> = const { Cell::new(0) };
}

/// The id of the call scope a view was handed out in.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeId(u64);

impl ScopeId {
    /// Panics unless this scope is the innermost open one on this thread.
    #[inline]
    fn check(self, what: &str) {
        if INNERMOST.with(Cell::get) != self.0 {
            stale(what)
        }
    }
}

/// Fails the batch with [`Error::IllegalState`](crate::Error::IllegalState): the view's memory
/// may be gone.
#[cold]
#[inline(never)]
fn stale(what: &str) -> ! {
    std::panic::panic_any(crate::Error::IllegalState(format!(
        "a {what} was used after the closure call that received it returned; \
         copy it (to_string(), to_vec()) to keep it"
    )))
}

/// The engine's calls of a closure over one partition: views handed out with [`CallScope::id`]
/// can be read until the scope is dropped.
pub(crate) struct CallScope {
    id: u64,
    outer: u64,
    _not_send: PhantomData<*const ()>,
}

impl CallScope {
    /// Opens a scope on this thread. The caller keeps the buffers of every view it hands out
    /// with this scope's id alive until the scope is dropped.
    pub(crate) fn open() -> Self {
        let id = NEXT_SCOPE.fetch_add(1, AtomicOrdering::Relaxed);
        let outer = INNERMOST.with(|s| s.replace(id));
        CallScope {
            id,
            outer,
            _not_send: PhantomData,
        }
    }

    /// The id views of this scope carry.
    pub(crate) fn id(&self) -> ScopeId {
        ScopeId(self.id)
    }
}

impl Drop for CallScope {
    fn drop(&mut self) {
        INNERMOST.with(|s| s.set(self.outer));
    }
}

/// A string of a batch, as DStream closures receive it: reads as a `&str` (it dereferences to
/// one), and returned in a closure's result it stays a view of the batch's buffer.
///
/// ```
/// use dstreams::prelude::*;
/// # let ssc = StreamingContext::new(Seconds(1));
/// # let lines = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
/// let words = lines.flat_map(|line| line.split(' ')); // views into the lines
/// let pairs = words.map(|w| (w, 1)); // DStream<(String, i64)>, no word copied
/// let long = words.filter(|w| w.len() > 12 && w.starts_with("extra"));
/// let upper = words.map(|w| w.to_uppercase()); // a new string, copied once
/// # let _ = (pairs, long, upper);
/// ```
///
/// A `Str` is valid during the call that received it (and the engine's work on its result). To
/// keep a string longer, copy it: `w.to_string()`. Reading a `Str` after its call panics with a
/// message saying so; it never reads freed memory. `Str` is neither `Send` nor `Sync`.
#[derive(Clone, Copy)]
pub struct Str {
    ptr: NonNull<u8>,
    len: usize,
    scope: ScopeId,
}

impl Str {
    pub(crate) fn new(s: &str, scope: ScopeId) -> Str {
        Str {
            ptr: NonNull::from(s.as_bytes()).cast(),
            len: s.len(),
            scope,
        }
    }

    /// The string.
    ///
    /// # Panics
    /// When the call that received this `Str` has returned.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.scope.check("Str");
        // SAFETY: `ptr` and `len` come from a `&str` (valid UTF-8) lying in a buffer that the
        // engine keeps alive while the scope `self.scope` is open; `check` just confirmed it is
        // the innermost open scope of this thread, the only thread this value can be on (it is
        // not `Send`), and scope ids are never reused. The bytes are immutable (Arrow buffers).
        unsafe {
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr.as_ptr(), self.len))
        }
    }

    /// The part of this string that `f` gives, as a view: for results of any `&str` function
    /// (`str::trim_matches`, a parser's token, a regex match), which a closure could not
    /// return from the `&str` the `Str` dereferences to.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let lines = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
    /// let keys = lines.map(|line| line.view(|l| l.split_once('=').map_or(l, |kv| kv.0)));
    /// # let _ = keys;
    /// ```
    pub fn view(&self, f: impl for<'s> FnOnce(&'s str) -> &'s str) -> Str {
        // The result borrows from the string it was given (or is `'static`, which stays valid
        // too), so it lies in the same buffer as `self` and is valid while `self` is.
        self.sub(f(self.as_str()))
    }

    fn sub(&self, part: &str) -> Str {
        Str::new(part, self.scope)
    }

    /// The substrings between matches of `sep`, as views (`str::split`'s rules: a trailing
    /// empty substring is kept; see [`split_java`](Self::split_java) for Java's).
    pub fn split<P: Separator>(&self, sep: P) -> Split<P> {
        Split {
            s: *self,
            cuts: Cuts::new(sep),
        }
    }

    /// The parts before and after the first match of `sep`, as views (`str::split_once`).
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let lines = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
    /// let settings = lines.flat_map(|line| line.split_once('=')); // (key, value) views
    /// # let _ = settings;
    /// ```
    pub fn split_once<P: Separator>(&self, mut sep: P) -> Option<(Str, Str)> {
        let s = self.as_str();
        let (start, end) = sep.first_match(s)?;
        Some((self.sub(&s[..start]), self.sub(&s[end..])))
    }

    /// Java's `String.split(sep)` with a literal separator, as views: the substrings between
    /// matches of `sep`, without the trailing empty ones (an empty string gives one empty
    /// string). This is what a Spark program's `line.split(" ")` counts. See
    /// [`split_java`](crate::text::split_java).
    pub fn split_java<P: Separator>(&self, sep: P) -> SplitJava<Split<P>> {
        let s = self.as_str();
        match java_cuts(s, sep) {
            Ok((len, cuts)) => SplitJava::trimmed(Split {
                s: self.sub(&s[..len]),
                cuts,
            }),
            Err(cuts) => SplitJava::held_back(Split { s: *self, cuts }),
        }
    }

    /// The substrings separated by Unicode whitespace, as views (`str::split_whitespace`).
    pub fn split_whitespace(&self) -> SplitWhitespace {
        SplitWhitespace { rest: *self }
    }

    /// Without leading and trailing whitespace, as a view.
    pub fn trim(&self) -> Str {
        self.sub(self.as_str().trim())
    }

    /// Without leading whitespace, as a view.
    pub fn trim_start(&self) -> Str {
        self.sub(self.as_str().trim_start())
    }

    /// Without trailing whitespace, as a view.
    pub fn trim_end(&self) -> Str {
        self.sub(self.as_str().trim_end())
    }

    /// The bytes in `range` as a view, or `None` where `str::get` gives `None` (out of bounds,
    /// not on character boundaries).
    pub fn get(&self, range: impl RangeBounds<usize>) -> Option<Str> {
        let s = self.as_str();
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.checked_add(1)?,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => i.checked_add(1)?,
            Bound::Excluded(&i) => i,
            Bound::Unbounded => s.len(),
        };
        s.get(start..end).map(|part| self.sub(part))
    }
}

impl Deref for Str {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl From<Str> for String {
    fn from(s: Str) -> String {
        s.as_str().to_owned()
    }
}

impl Value for Str {
    type Data = String;
    #[inline]
    fn append_to(self, b: &mut <String as Data>::Builder) {
        super::ColumnBuilder::push_ref(b, self.as_str());
    }
    #[inline]
    fn view(&self) -> Option<&str> {
        Some(self.as_str())
    }
}

/// The substrings of a [`Str`] between matches of a separator ([`Str::split`]).
pub struct Split<P> {
    s: Str,
    cuts: Cuts<P>,
}

impl<P: Separator> Iterator for Split<P> {
    type Item = Str;
    fn next(&mut self) -> Option<Str> {
        let whole = self.s.as_str();
        self.cuts.next_piece(whole).map(|r| self.s.sub(&whole[r]))
    }
}

impl Piece for Str {
    fn is_empty_piece(&self) -> bool {
        self.len == 0
    }
}

/// The whitespace-separated substrings of a [`Str`] ([`Str::split_whitespace`]).
pub struct SplitWhitespace {
    rest: Str,
}

impl Iterator for SplitWhitespace {
    type Item = Str;
    fn next(&mut self) -> Option<Str> {
        let rest = self.rest;
        let s = rest.as_str().trim_start();
        if s.is_empty() {
            self.rest = rest.sub(s);
            return None;
        }
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        self.rest = rest.sub(&s[end..]);
        Some(rest.sub(&s[..end]))
    }
}

/// A byte string of a batch, as DStream closures receive it: the [`Str`] of [`ByteString`]s
/// (dereferences to `&[u8]`, valid during the call that received it).
#[derive(Clone, Copy)]
pub struct ByteStr {
    ptr: NonNull<u8>,
    len: usize,
    scope: ScopeId,
}

impl ByteStr {
    pub(crate) fn new(b: &[u8], scope: ScopeId) -> ByteStr {
        ByteStr {
            ptr: NonNull::from(b).cast(),
            len: b.len(),
            scope,
        }
    }

    /// The bytes.
    ///
    /// # Panics
    /// When the call that received this `ByteStr` has returned.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.scope.check("ByteStr");
        // SAFETY: as in `Str::as_str`: the bytes lie in a buffer kept alive while the checked
        // scope is open, on this thread.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Deref for ByteStr {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for ByteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_bytes(), f)
    }
}

impl PartialEq for ByteStr {
    fn eq(&self, other: &ByteStr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
impl Eq for ByteStr {}

impl Hash for ByteStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl Value for ByteStr {
    type Data = ByteString;
    fn append_to(self, b: &mut <ByteString as Data>::Builder) {
        super::ColumnBuilder::push_ref(b, self.as_bytes());
    }
    fn view(&self) -> Option<&[u8]> {
        Some(self.as_bytes())
    }
}

/// A list of a batch (a value of `group_by_key`, `cogroup`, `glom`), as DStream closures
/// receive it: its elements are the closure views of `T` ([`Str`] for strings, numbers as they
/// are), valid during the call that received it.
///
/// ```
/// # use dstreams::prelude::*;
/// # let ssc = StreamingContext::new(Seconds(1));
/// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
/// let totals = pairs.group_by_key().map_values(|counts| counts.iter().sum::<i64>());
/// let sizes = pairs.group_by_key().map(|(word, counts)| (word, counts.len() as i64));
/// # let _ = (totals, sizes);
/// ```
pub struct Seq<T: Data> {
    values: NonNull<T::Column>,
    start: usize,
    end: usize,
    scope: ScopeId,
}

impl<T: Data> Clone for Seq<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Data> Copy for Seq<T> {}

impl<T: Data> Seq<T> {
    pub(crate) fn new(list: ListRef<'_, T>, scope: ScopeId) -> Seq<T> {
        let (values, start, end) = list.parts();
        Seq {
            values: NonNull::from(values),
            start,
            end,
            scope,
        }
    }

    fn list(&self) -> ListRef<'_, T> {
        self.scope.check("Seq");
        // SAFETY: the values column is held by a batch the engine keeps alive while the checked
        // scope is open, on this thread (as in `Str::as_str`); columns are immutable.
        let values = unsafe { self.values.as_ref() };
        ListRef::from_parts(values, self.start, self.end)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Element `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<T::Arg> {
        (i < self.len()).then(|| T::arg(self.list().get(i), self.scope))
    }

    /// The elements.
    pub fn iter(&self) -> SeqIter<T> {
        SeqIter {
            seq: *self,
            next: 0,
        }
    }

    /// The elements, owned.
    pub fn to_vec(&self) -> Vec<T> {
        self.list().to_vec()
    }
}

impl<T: Data> IntoIterator for Seq<T> {
    type Item = T::Arg;
    type IntoIter = SeqIter<T>;
    fn into_iter(self) -> SeqIter<T> {
        self.iter()
    }
}

impl<T: Data> fmt::Debug for Seq<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.list(), f)
    }
}

impl<T: Data> Value for Seq<T> {
    type Data = Vec<T>;
    fn append_to(self, b: &mut <Vec<T> as Data>::Builder) {
        super::ColumnBuilder::push_ref(b, self.list());
    }
    fn view(&self) -> Option<ListRef<'_, T>> {
        Some(self.list())
    }
}

/// The elements of one partition of a batch, as closure views, for
/// [`DStream::map_partitions`](crate::DStream::map_partitions); valid during the call that
/// received it, like [`Str`].
pub struct Partition<T: Data> {
    column: NonNull<T::Column>,
    next: usize,
    len: usize,
    index: usize,
    scope: ScopeId,
}

impl<T: Data> Partition<T> {
    pub(crate) fn new(column: &T::Column, index: usize, scope: ScopeId) -> Partition<T> {
        Partition {
            column: NonNull::from(column),
            next: 0,
            len: Column::len(column),
            index,
            scope,
        }
    }

    /// The partition's index in its batch.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl<T: Data> Iterator for Partition<T> {
    type Item = T::Arg;
    fn next(&mut self) -> Option<T::Arg> {
        if self.next == self.len {
            return None;
        }
        self.scope.check("Partition");
        // SAFETY: the column is held by a batch the engine keeps alive while the checked scope
        // is open, on this thread (as in `Str::as_str`); columns are immutable.
        let column = unsafe { self.column.as_ref() };
        self.next += 1;
        Some(T::arg(column.value(self.next - 1), self.scope))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len - self.next;
        (left, Some(left))
    }
}

impl<T: Data> ExactSizeIterator for Partition<T> {}

/// The elements of a [`Seq`].
pub struct SeqIter<T: Data> {
    seq: Seq<T>,
    next: usize,
}

impl<T: Data> Iterator for SeqIter<T> {
    type Item = T::Arg;
    fn next(&mut self) -> Option<T::Arg> {
        let v = self.seq.get(self.next)?;
        self.next += 1;
        Some(v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.seq.len() - self.next;
        (left, Some(left))
    }
}

impl<T: Data> ExactSizeIterator for SeqIter<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Column, ColumnBuilder, Sources, column_from_values};
    use arrow_array::StringViewArray;

    fn line() -> StringViewArray {
        StringViewArray::from(vec!["to be  or not to be, that is the question  "])
    }

    #[test]
    fn views_read_as_their_strings_inside_their_scope() {
        let col = line();
        let scope = CallScope::open();
        let s = Str::new(Column::value(&col, 0), scope.id());
        assert_eq!(&s[..5], "to be");
        let words: Vec<Str> = s.split(' ').collect();
        assert_eq!(words.len(), 13);
        assert_eq!(words[2], "");
        assert_eq!(words.last().map(|w| w.len()), Some(0));
        let java: Vec<String> = s.split_java(' ').map(String::from).collect();
        assert_eq!(
            java,
            [
                "to", "be", "", "or", "not", "to", "be,", "that", "is", "the", "question"
            ]
        );
        let ws: Vec<String> = s.split_whitespace().map(String::from).collect();
        assert_eq!(ws.len(), 10);
        assert_eq!(s.trim().len(), s.len() - 2);
        assert_eq!(s.get(3..5).unwrap(), "be");
        let (to, rest) = s.split_once("  ").unwrap();
        assert_eq!((to.as_str(), rest.len()), ("to be", s.len() - 7));
        assert!(s.split_once('#').is_none());
        assert!(s.get(3..500).is_none());
        assert_eq!(s.view(|l| &l[6..]).len(), s.len() - 6);
        assert_eq!(s.view(|l| l.trim_end_matches(' ')).as_ptr(), s.as_ptr());
        assert_eq!(s.view(|_| "elsewhere"), "elsewhere");
        // Views share the line's bytes.
        assert_eq!(words[1].as_ptr(), s.as_ptr().wrapping_add(3));
    }

    #[test]
    fn a_view_read_after_its_scope_panics_with_an_illegal_state() {
        let col = line();
        let kept = {
            let scope = CallScope::open();
            Str::new(Column::value(&col, 0), scope.id())
        };
        let payload = std::panic::catch_unwind(|| kept.len()).unwrap_err();
        let error = payload.downcast::<crate::Error>().unwrap();
        assert!(
            error
                .to_string()
                .contains("used after the closure call that received it returned"),
            "{error}"
        );
    }

    #[test]
    fn an_outer_view_is_readable_again_once_a_nested_scope_closes() {
        let col = line();
        let outer = CallScope::open();
        let s = Str::new(Column::value(&col, 0), outer.id());
        {
            let inner = CallScope::open();
            let t = Str::new(Column::value(&col, 0), inner.id());
            assert_eq!(t.len(), Column::value(&col, 0).len());
            assert!(std::panic::catch_unwind(|| s.len()).is_err());
        }
        assert_eq!(s.len(), Column::value(&col, 0).len());
    }

    #[test]
    fn views_returned_in_results_stay_views() {
        let col = line();
        let sources = Sources::of_columns([&col]);
        let mut b = <String as Data>::Builder::new(2, &sources);
        let scope = CallScope::open();
        let s = Str::new(Column::value(&col, 0), scope.id());
        let question = s.split(' ').find(|w| w.len() > 4).unwrap();
        Value::append_to(s, &mut b);
        Value::append_to(question, &mut b);
        let out = b.finish();
        assert_eq!(Column::value(&out, 0).as_ptr(), s.as_ptr());
        assert_eq!(Column::value(&out, 1), "question");
    }

    #[test]
    fn seqs_give_element_views() {
        let lists = column_from_values(vec![
            vec!["alpha".to_string(), "a word longer than twelve".to_string()],
            vec![],
        ]);
        let scope = CallScope::open();
        let first = Seq::new(Column::value(&lists, 0), scope.id());
        let empty = Seq::new(Column::value(&lists, 1), scope.id());
        assert_eq!(first.len(), 2);
        assert!(empty.is_empty() && empty.get(0).is_none());
        let words: Vec<String> = first.iter().map(String::from).collect();
        assert_eq!(words, ["alpha", "a word longer than twelve"]);
        assert_eq!(first.to_vec(), words);
        assert_eq!(
            format!("{first:?}"),
            "CompactBuffer(alpha, a word longer than twelve)"
        );
        let bytes = column_from_values(vec![ByteString(vec![0xff, 1])]);
        let b = ByteStr::new(Column::value(&bytes, 0), scope.id());
        assert_eq!(&*b, &[0xff, 1]);
    }

    #[test]
    fn seqs_partitions_and_byte_strings_are_unreadable_after_their_scope() {
        let lists = column_from_values(vec![vec![1i64, 2]]);
        let nums = column_from_values(vec![1i64, 2]);
        let bytes = column_from_values(vec![ByteString(vec![7])]);
        let (seq, mut part, b) = {
            let scope = CallScope::open();
            let mut part = Partition::<i64>::new(&nums, 0, scope.id());
            assert_eq!(part.next(), Some(1));
            (
                Seq::new(Column::value(&lists, 0), scope.id()),
                part,
                ByteStr::new(Column::value(&bytes, 0), scope.id()),
            )
        };
        // Lengths need no read of the data; everything else refuses.
        assert_eq!(seq.len(), 2);
        assert!(std::panic::catch_unwind(|| seq.to_vec()).is_err());
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| part.next())).is_err());
        assert!(std::panic::catch_unwind(|| b.to_vec()).is_err());
    }
}
