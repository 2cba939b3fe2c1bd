//! Typed columns over Apache Arrow arrays.
//!
//! A [`Data`] type says three things: which column holds many values of it (an Arrow array or a
//! struct of them), which borrowed *view* a closure receives for one value (`&str` for strings, `i64`
//! for integers, `(&str, i64)` for pairs), and how to build a column. Closures hand their results to
//! an [`Emit`]ter; a `&str` pushed there that lies inside an input buffer becomes a view of that
//! buffer, so words split from lines are never copied.

mod batch;
mod bytes;
#[cfg(test)]
mod from_arrow_tests;
mod key;
pub(crate) mod key_table;
mod list;
mod option;
mod primitive;
mod sources;
mod tuple;
pub(crate) mod view;

pub use batch::{Batch, Origin};
pub use bytes::ByteString;
pub use key::{Key, key_hash_state};
pub use list::{ListColumn, ListRef};
pub use option::OptionColumn;
pub use sources::Sources;
pub use tuple::{PairColumn, TripleColumn};
pub use view::{ByteStr, Partition, ScopeId, Seq, SeqIter, Split, SplitWhitespace, Str};

use crate::error::{Error, Result};
use arrow_array::{Array, ArrayRef};
use arrow_buffer::Buffer;
use arrow_schema::DataType;
use std::fmt;

/// A type that can flow through a [`DStream`](crate::DStream): it maps to an Arrow column and to
/// the borrowed view closures see.
///
/// Implemented for integers, floats, `bool`, `String`, [`ByteString`], 2- and 3-tuples, `Option<T>`
/// and `Vec<T>` (lists, as produced by `group_by_key`, `cogroup` and `glom`).
pub trait Data: Sized + Send + Sync + 'static {
    /// A borrowed view of one value (`&str` for strings, `(&str, i64)` for pairs): what
    /// iterating a [`Batch`] gives, what [`Batch`] operations' closures and emitters receive.
    type Ref<'a>: Copy + Send + Sync;
    /// What the closures of [`DStream`](crate::DStream) operations receive for one value: the
    /// view without a lifetime ([`Str`] for strings, [`Seq`] for lists, numbers as they are),
    /// valid during the call (see [`Str`]).
    type Arg: Copy;
    /// A column of values.
    type Column: Column<Item = Self>;
    /// Builds a column.
    type Builder: ColumnBuilder<Item = Self>;

    /// Copies a view into an owned value.
    fn to_owned_value(r: Self::Ref<'_>) -> Self;
    /// The same view with a shorter lifetime: every view is covariant in its lifetime, which
    /// generic code over `Ref<'b>` cannot see.
    #[doc(hidden)]
    fn shorten<'a, 'b: 'a>(r: Self::Ref<'b>) -> Self::Ref<'a>;
    /// The closure argument for a view, readable while `scope` is the innermost open call
    /// scope (the engine opens one around its calls over a partition it holds).
    #[doc(hidden)]
    fn arg(r: Self::Ref<'_>, scope: ScopeId) -> Self::Arg;
    /// Writes a value as Scala's `toString` would (`(hello,1)`, `Some(x)`, `CompactBuffer(1, 2)`).
    fn fmt_spark(r: Self::Ref<'_>, f: &mut fmt::Formatter<'_>) -> fmt::Result;
    /// The Arrow type of the column.
    fn data_type() -> DataType;
    /// Rebuilds a column from the Arrow array [`Column::to_arrow`] gives (for example one read
    /// back from an Arrow IPC checkpoint file). Fails with [`Error::ArrowType`] when the array's
    /// type is not `Self::data_type()` (or a form of it this type accepts).
    ///
    /// The column shares the array's buffers wherever its layout allows. Accepted forms: tuples
    /// take any struct array with as many fields (matched by position; names and nullability
    /// flags are not checked), lists any `List` array (its item field's name and nullability flag
    /// are not checked either), and `String` also takes `Utf8` and `LargeUtf8` arrays (turned
    /// into views of their byte buffer). Only an `Option` column holds nulls: any other type
    /// fails with [`Error::ArrowType`] on an array with nulls. `Option<Option<T>>` always fails,
    /// with [`Error::Unsupported`]: its array has one null buffer, which cannot tell `None` from
    /// `Some(None)`.
    fn column_from_arrow(array: &ArrayRef) -> Result<Self::Column>;

    /// Whether this is an `Option`, whose nulls are its array's null buffer (so that an `Option`
    /// of it cannot be rebuilt from Arrow).
    #[doc(hidden)]
    const IS_OPTION: bool = false;

    /// The kernels' fast paths: strings as views, integers as `i64` accumulators. `None` (the
    /// default) sends an operation down the general path.
    #[doc(hidden)]
    fn string_views(_col: &Self::Column) -> Option<&arrow_array::StringViewArray> {
        None
    }
    #[doc(hidden)]
    fn as_str<'a>(_r: Self::Ref<'a>) -> Option<&'a str> {
        None
    }
    #[doc(hidden)]
    fn column_from_string_views(_views: arrow_array::StringViewArray) -> Option<Self::Column> {
        None
    }
    #[doc(hidden)]
    fn to_i64(_v: Self) -> Option<i64> {
        None
    }
    #[doc(hidden)]
    fn from_i64(_v: i64) -> Option<Self> {
        None
    }
    #[doc(hidden)]
    fn i64_values(_col: &Self::Column) -> Option<std::borrow::Cow<'_, [i64]>> {
        None
    }
    #[doc(hidden)]
    fn column_from_i64(_values: Vec<i64>) -> Option<Self::Column> {
        None
    }
}

/// A column of [`Data`] values: one partition of a batch.
pub trait Column: Clone + Send + Sync + 'static {
    /// The element type.
    type Item: Data;
    /// Number of values.
    fn len(&self) -> usize;
    /// Whether there are no values.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The view of value `i`. Panics if `i >= len()`, like slice indexing.
    fn value(&self, i: usize) -> <Self::Item as Data>::Ref<'_>;
    /// The column as an Arrow array (cheap: buffers are shared, not copied).
    fn to_arrow(&self) -> ArrayRef;
    /// Appends the byte buffers that string views of this column point into.
    fn data_buffers(&self, out: &mut Vec<Buffer>);
    /// An empty column.
    fn empty() -> Self;
}

/// Builds a [`Column`].
pub trait ColumnBuilder: Send + Sized {
    /// The element type.
    type Item: Data;
    /// A builder whose string views may point into `sources` instead of copying.
    fn new(capacity: usize, sources: &Sources) -> Self;
    /// Appends a view: strings inside `sources` become views, others are copied.
    fn push_ref(&mut self, v: <Self::Item as Data>::Ref<'_>);
    /// Appends an owned value.
    fn push(&mut self, v: Self::Item);
    /// Appends a placeholder under a null slot of an enclosing `Option` column.
    fn push_placeholder(&mut self);
    /// Number of values appended.
    fn len(&self) -> usize;
    /// Whether nothing was appended.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The finished column.
    fn finish(self) -> <Self::Item as Data>::Column;
}

/// What a closure returns (or pushes into an [`Emit`]): an owned [`Data`] value or a view of
/// one.
///
/// `&str`, [`Str`] and `String` all produce `String` columns; the views are kept as views when
/// they lie in an input buffer. Integers are `i64` (the only integer `Value`, so integer
/// literals are `i64`s), floats `f64` or `f32`. Tuples, `Option`s and `Vec`s of values are
/// values.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a value a dstreams closure can return",
    note = "integers are returned as `i64` (Spark's Long): write `i64::from(x)` or `x as i64`; strings as `&str`, `Str` or `String`"
)]
pub trait Value {
    /// The column type this value lands in.
    type Data: Data;
    /// Appends `self` to a builder.
    fn append_to(self, builder: &mut <Self::Data as Data>::Builder);
    /// The value's view, when it has one without being built into a column (every value but
    /// lists).
    #[doc(hidden)]
    fn view(&self) -> Option<<Self::Data as Data>::Ref<'_>> {
        None
    }
}

/// Collects the results of a closure for one batch partition: the emitter of
/// [`DStream::flat_map_emit`](crate::DStream::flat_map_emit), whose closures push results
/// borrowed from a `&str` element.
///
/// ```
/// use dstreams::prelude::*;
/// let ssc = StreamingContext::new(Seconds(1));
/// let lines = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
/// // `out.push(w)` keeps each word as a view into the line's buffer.
/// let words = lines.flat_map_emit(|line, out| line.split_whitespace().for_each(|w| out.push(w)));
/// # let _ = words;
/// ```
pub struct Emit<'b, O: Data> {
    sink: &'b mut Sink<'b, O>,
    sources: &'b Sources,
}

/// Where a fused narrow chain hands each of its outputs.
pub(crate) type Sink<'s, O> = dyn FnMut(<O as Data>::Ref<'_>) + 's;

impl<'b, O: Data> Emit<'b, O> {
    pub(crate) fn new(sink: &'b mut Sink<'b, O>, sources: &'b Sources) -> Self {
        Emit { sink, sources }
    }

    /// Emits one value.
    #[inline]
    pub fn push<V: Value<Data = O>>(&mut self, v: V) {
        emit(v, self.sources, self.sink);
    }

    /// Emits every value of an iterator.
    pub fn extend<V: Value<Data = O>>(&mut self, values: impl IntoIterator<Item = V>) {
        for v in values {
            emit(v, self.sources, self.sink);
        }
    }
}

/// Hands `v`'s view to `sink`; a value without one (a list) is first built into a one-element
/// column whose string views may point into `sources`.
#[inline]
pub(crate) fn emit<V: Value>(v: V, sources: &Sources, sink: &mut Sink<'_, V::Data>) {
    if let Some(r) = v.view() {
        sink(r);
        return;
    }
    let mut b = <V::Data as Data>::Builder::new(1, sources);
    v.append_to(&mut b);
    sink(b.finish().value(0));
}

/// Formats a view the way Scala's `toString` would; used by `pprint` and `save_as_text_files`.
pub struct SparkDisplay<'a, T: Data>(pub T::Ref<'a>);

impl<T: Data> fmt::Display for SparkDisplay<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt_spark(self.0, f)
    }
}

/// Builds a column from owned values (tests, queue inputs).
pub fn column_from_values<T: Data>(values: impl IntoIterator<Item = T>) -> T::Column {
    let iter = values.into_iter();
    let mut b = T::Builder::new(iter.size_hint().0, &Sources::none());
    for v in iter {
        b.push(v);
    }
    b.finish()
}

/// The views of a column collected into owned values.
pub fn collect_owned<C: Column>(col: &C) -> Vec<C::Item> {
    column_iter(col)
        .map(<C::Item as Data>::to_owned_value)
        .collect()
}

/// The error for an array that is not a column of `T`.
pub(crate) fn arrow_type_error<T: Data>(array: &dyn Array) -> Error {
    Error::ArrowType {
        expected: T::data_type().to_string(),
        found: array.data_type().to_string(),
    }
}

/// `array` as the Arrow array type `A` that holds a column of `T`, which has no nulls.
pub(crate) fn downcast_non_null<T: Data, A: Array + 'static>(array: &ArrayRef) -> Result<&A> {
    let typed = array
        .as_any()
        .downcast_ref::<A>()
        .ok_or_else(|| arrow_type_error::<T>(array.as_ref()))?;
    match array.null_count() {
        0 => Ok(typed),
        nulls => Err(Error::ArrowType {
            expected: format!("{} without nulls", T::data_type()),
            found: format!(
                "{} with nulls ({nulls} of {})",
                array.data_type(),
                array.len()
            ),
        }),
    }
}

/// Iterates the views of a column.
pub fn column_iter<C: Column>(col: &C) -> impl Iterator<Item = <C::Item as Data>::Ref<'_>> {
    (0..col.len()).map(move |i| col.value(i))
}
