//! `Vec<T>`: lists, as produced by `group_by_key`, `cogroup` and `glom`.

use super::view::{ScopeId, Seq};
use super::{Column, ColumnBuilder, Data, Sources, Value, downcast_non_null};
use crate::error::Result;
use arrow_array::{Array, ArrayRef, ListArray};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};
use std::fmt;
use std::sync::Arc;

/// A column of lists: offsets into one column of values.
pub struct ListColumn<T: Data> {
    offsets: ScalarBuffer<i32>,
    values: T::Column,
}

impl<T: Data> Clone for ListColumn<T> {
    fn clone(&self) -> Self {
        ListColumn {
            offsets: self.offsets.clone(),
            values: self.values.clone(),
        }
    }
}

/// The view of one list: a range of a values column.
pub struct ListRef<'a, T: Data> {
    values: &'a T::Column,
    start: usize,
    end: usize,
}

impl<T: Data> Clone for ListRef<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Data> Copy for ListRef<'_, T> {}

impl<'a, T: Data> ListRef<'a, T> {
    pub(crate) fn from_parts(values: &'a T::Column, start: usize, end: usize) -> Self {
        ListRef { values, start, end }
    }
    pub(crate) fn parts(&self) -> (&'a T::Column, usize, usize) {
        (self.values, self.start, self.end)
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
    /// Element `i`.
    pub fn get(&self, i: usize) -> T::Ref<'a> {
        assert!(i < self.len(), "index {i} out of a list of {}", self.len());
        self.values.value(self.start + i)
    }
    /// The elements.
    pub fn iter(&self) -> impl Iterator<Item = T::Ref<'a>> + Clone + use<'a, T> {
        let values = self.values;
        (self.start..self.end).map(move |i| values.value(i))
    }
    /// The elements, owned.
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().map(T::to_owned_value).collect()
    }
}

impl<T: Data> fmt::Debug for ListRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        <Vec<T> as Data>::fmt_spark(*self, f)
    }
}

impl<T: Data> Data for Vec<T> {
    type Ref<'a> = ListRef<'a, T>;
    type Arg = Seq<T>;
    type Column = ListColumn<T>;
    type Builder = ListBuilder<T>;
    fn to_owned_value(r: ListRef<'_, T>) -> Self {
        r.to_vec()
    }
    fn shorten<'a, 'b: 'a>(r: ListRef<'b, T>) -> ListRef<'a, T> {
        r
    }
    fn arg(r: ListRef<'_, T>, scope: ScopeId) -> Seq<T> {
        Seq::new(r, scope)
    }
    /// Scala's `CompactBuffer(1, 2)`, the `toString` of `groupByKey`'s value lists.
    fn fmt_spark(r: ListRef<'_, T>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompactBuffer(")?;
        for (i, v) in r.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            T::fmt_spark(v, f)?;
        }
        f.write_str(")")
    }
    fn data_type() -> DataType {
        DataType::List(Arc::new(Field::new("item", T::data_type(), true)))
    }
    /// Shares the offsets (of a sliced array too: they index the whole values array, as the
    /// column's do) and rebuilds the values column from the whole values array.
    fn column_from_arrow(array: &ArrayRef) -> Result<ListColumn<T>> {
        let list = downcast_non_null::<Self, ListArray>(array)?;
        Ok(ListColumn {
            offsets: list.offsets().inner().clone(),
            values: T::column_from_arrow(list.values())?,
        })
    }
}

impl<T: Data> Column for ListColumn<T> {
    type Item = Vec<T>;
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    #[inline]
    fn value(&self, i: usize) -> ListRef<'_, T> {
        ListRef {
            values: &self.values,
            start: self.offsets[i] as usize,
            end: self.offsets[i + 1] as usize,
        }
    }
    fn to_arrow(&self) -> ArrayRef {
        let values = self.values.to_arrow();
        // The item type is the values array's own: for tuples it marks the fields that hold
        // nulls nullable, where `T::data_type()` does not (and `ListArray` wants them equal).
        let field = Arc::new(Field::new("item", values.data_type().clone(), true));
        let offsets = OffsetBuffer::new(self.offsets.clone());
        Arc::new(ListArray::new(field, offsets, values, None))
    }
    fn data_buffers(&self, out: &mut Vec<Buffer>) {
        self.values.data_buffers(out);
    }
    fn empty() -> Self {
        ListColumn {
            offsets: ScalarBuffer::from(vec![0i32]),
            values: T::Column::empty(),
        }
    }
}

/// Builds a list column.
pub struct ListBuilder<T: Data> {
    offsets: Vec<i32>,
    values: T::Builder,
}

impl<T: Data> ListBuilder<T> {
    /// Appends one value to the list being built; close it with [`ListBuilder::close_list`].
    pub(crate) fn push_element_ref(&mut self, v: T::Ref<'_>) {
        self.values.push_ref(v);
    }
    /// Ends the list being built.
    pub(crate) fn close_list(&mut self) {
        let end =
            i32::try_from(self.values.len()).expect("a list column holds fewer than 2^31 values");
        self.offsets.push(end);
    }
}

impl<T: Data> ColumnBuilder for ListBuilder<T> {
    type Item = Vec<T>;
    fn new(capacity: usize, sources: &Sources) -> Self {
        let mut offsets = Vec::with_capacity(capacity + 1);
        offsets.push(0);
        ListBuilder {
            offsets,
            values: T::Builder::new(capacity, sources),
        }
    }
    fn push_ref(&mut self, v: ListRef<'_, T>) {
        for x in v.iter() {
            self.values.push_ref(x);
        }
        self.close_list();
    }
    fn push(&mut self, v: Vec<T>) {
        for x in v {
            self.values.push(x);
        }
        self.close_list();
    }
    fn push_placeholder(&mut self) {
        self.close_list();
    }
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    fn finish(self) -> ListColumn<T> {
        ListColumn {
            offsets: ScalarBuffer::from(self.offsets),
            values: self.values.finish(),
        }
    }
}

impl<V: Value> Value for Vec<V> {
    type Data = Vec<V::Data>;
    fn append_to(self, b: &mut ListBuilder<V::Data>) {
        for v in self {
            v.append_to(&mut b.values);
        }
        b.close_list();
    }
}

impl<T: Data> Value for ListRef<'_, T> {
    type Data = Vec<T>;
    fn append_to(self, b: &mut ListBuilder<T>) {
        b.push_ref(self);
    }
    fn view(&self) -> Option<ListRef<'_, T>> {
        Some(*self)
    }
}
