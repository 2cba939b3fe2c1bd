//! Tuples: a struct of columns, one per field (Scala's `_1`, `_2`, `_3`).

use super::view::ScopeId;
use super::{Column, ColumnBuilder, Data, Sources, Value, arrow_type_error, downcast_non_null};
use crate::error::Result;
use arrow_array::{ArrayRef, StructArray};
use arrow_buffer::Buffer;
use arrow_schema::{DataType, Field, Fields};
use std::fmt;
use std::sync::Arc;

/// The column of a pair: one column per field.
pub struct PairColumn<A: Data, B: Data> {
    /// First fields.
    pub a: A::Column,
    /// Second fields.
    pub b: B::Column,
}

impl<A: Data, B: Data> Clone for PairColumn<A, B> {
    fn clone(&self) -> Self {
        PairColumn {
            a: self.a.clone(),
            b: self.b.clone(),
        }
    }
}

fn fields(types: &[DataType]) -> Fields {
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Field::new(
                format!("_{}", i + 1),
                t.clone(),
                matches!(t, DataType::Null),
            )
        })
        .collect()
}

fn nullable_fields(arrays: &[ArrayRef]) -> Fields {
    arrays
        .iter()
        .enumerate()
        .map(|(i, a)| {
            Field::new(
                format!("_{}", i + 1),
                a.data_type().clone(),
                a.null_count() > 0 || a.data_type().is_nested(),
            )
        })
        .collect()
}

/// The field arrays of a struct array holding a column of the `N`-tuple `T` (fields matched by
/// position, whatever their names).
fn struct_fields<T: Data, const N: usize>(array: &ArrayRef) -> Result<&[ArrayRef; N]> {
    let s = downcast_non_null::<T, StructArray>(array)?;
    s.columns().try_into().map_err(|_| arrow_type_error::<T>(s))
}

impl<A: Data, B: Data> Data for (A, B) {
    type Ref<'a> = (A::Ref<'a>, B::Ref<'a>);
    type Arg = (A::Arg, B::Arg);
    type Column = PairColumn<A, B>;
    type Builder = PairBuilder<A, B>;
    fn to_owned_value(r: Self::Ref<'_>) -> Self {
        (A::to_owned_value(r.0), B::to_owned_value(r.1))
    }
    #[inline]
    fn shorten<'a, 'b: 'a>(r: Self::Ref<'b>) -> Self::Ref<'a> {
        (A::shorten(r.0), B::shorten(r.1))
    }
    fn arg(r: Self::Ref<'_>, scope: ScopeId) -> Self::Arg {
        (A::arg(r.0, scope), B::arg(r.1, scope))
    }
    fn fmt_spark(r: Self::Ref<'_>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        A::fmt_spark(r.0, f)?;
        f.write_str(",")?;
        B::fmt_spark(r.1, f)?;
        f.write_str(")")
    }
    fn data_type() -> DataType {
        DataType::Struct(fields(&[A::data_type(), B::data_type()]))
    }
    /// Rebuilds each field's column from its (sliced) field array.
    fn column_from_arrow(array: &ArrayRef) -> Result<PairColumn<A, B>> {
        let [a, b] = struct_fields::<Self, 2>(array)?;
        Ok(PairColumn {
            a: A::column_from_arrow(a)?,
            b: B::column_from_arrow(b)?,
        })
    }
}

impl<A: Data, B: Data> Column for PairColumn<A, B> {
    type Item = (A, B);
    fn len(&self) -> usize {
        self.a.len()
    }
    #[inline]
    fn value(&self, i: usize) -> (A::Ref<'_>, B::Ref<'_>) {
        (self.a.value(i), self.b.value(i))
    }
    fn to_arrow(&self) -> ArrayRef {
        let arrays = vec![self.a.to_arrow(), self.b.to_arrow()];
        Arc::new(StructArray::new(nullable_fields(&arrays), arrays, None))
    }
    fn data_buffers(&self, out: &mut Vec<Buffer>) {
        self.a.data_buffers(out);
        self.b.data_buffers(out);
    }
    fn empty() -> Self {
        PairColumn {
            a: A::Column::empty(),
            b: B::Column::empty(),
        }
    }
}

/// Builds a pair column.
pub struct PairBuilder<A: Data, B: Data>(pub(crate) A::Builder, pub(crate) B::Builder);

impl<A: Data, B: Data> ColumnBuilder for PairBuilder<A, B> {
    type Item = (A, B);
    fn new(capacity: usize, sources: &Sources) -> Self {
        PairBuilder(
            A::Builder::new(capacity, sources),
            B::Builder::new(capacity, sources),
        )
    }
    #[inline]
    fn push_ref(&mut self, v: (A::Ref<'_>, B::Ref<'_>)) {
        self.0.push_ref(v.0);
        self.1.push_ref(v.1);
    }
    fn push(&mut self, v: (A, B)) {
        self.0.push(v.0);
        self.1.push(v.1);
    }
    fn push_placeholder(&mut self) {
        self.0.push_placeholder();
        self.1.push_placeholder();
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(self) -> PairColumn<A, B> {
        PairColumn {
            a: self.0.finish(),
            b: self.1.finish(),
        }
    }
}

impl<A: Value, B: Value> Value for (A, B) {
    type Data = (A::Data, B::Data);
    #[inline]
    fn append_to(self, b: &mut PairBuilder<A::Data, B::Data>) {
        self.0.append_to(&mut b.0);
        self.1.append_to(&mut b.1);
    }
    #[inline]
    fn view(&self) -> Option<<Self::Data as Data>::Ref<'_>> {
        Some((self.0.view()?, self.1.view()?))
    }
}

/// The column of a triple.
pub struct TripleColumn<A: Data, B: Data, C: Data> {
    /// First fields.
    pub a: A::Column,
    /// Second fields.
    pub b: B::Column,
    /// Third fields.
    pub c: C::Column,
}

impl<A: Data, B: Data, C: Data> Clone for TripleColumn<A, B, C> {
    fn clone(&self) -> Self {
        TripleColumn {
            a: self.a.clone(),
            b: self.b.clone(),
            c: self.c.clone(),
        }
    }
}

impl<A: Data, B: Data, C: Data> Data for (A, B, C) {
    type Ref<'a> = (A::Ref<'a>, B::Ref<'a>, C::Ref<'a>);
    type Arg = (A::Arg, B::Arg, C::Arg);
    type Column = TripleColumn<A, B, C>;
    type Builder = TripleBuilder<A, B, C>;
    fn to_owned_value(r: Self::Ref<'_>) -> Self {
        (
            A::to_owned_value(r.0),
            B::to_owned_value(r.1),
            C::to_owned_value(r.2),
        )
    }
    fn shorten<'a, 'b: 'a>(r: Self::Ref<'b>) -> Self::Ref<'a> {
        (A::shorten(r.0), B::shorten(r.1), C::shorten(r.2))
    }
    fn arg(r: Self::Ref<'_>, scope: ScopeId) -> Self::Arg {
        (A::arg(r.0, scope), B::arg(r.1, scope), C::arg(r.2, scope))
    }
    fn fmt_spark(r: Self::Ref<'_>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        A::fmt_spark(r.0, f)?;
        f.write_str(",")?;
        B::fmt_spark(r.1, f)?;
        f.write_str(",")?;
        C::fmt_spark(r.2, f)?;
        f.write_str(")")
    }
    fn data_type() -> DataType {
        DataType::Struct(fields(&[A::data_type(), B::data_type(), C::data_type()]))
    }
    /// Rebuilds each field's column from its (sliced) field array.
    fn column_from_arrow(array: &ArrayRef) -> Result<TripleColumn<A, B, C>> {
        let [a, b, c] = struct_fields::<Self, 3>(array)?;
        Ok(TripleColumn {
            a: A::column_from_arrow(a)?,
            b: B::column_from_arrow(b)?,
            c: C::column_from_arrow(c)?,
        })
    }
}

impl<A: Data, B: Data, C: Data> Column for TripleColumn<A, B, C> {
    type Item = (A, B, C);
    fn len(&self) -> usize {
        self.a.len()
    }
    fn value(&self, i: usize) -> (A::Ref<'_>, B::Ref<'_>, C::Ref<'_>) {
        (self.a.value(i), self.b.value(i), self.c.value(i))
    }
    fn to_arrow(&self) -> ArrayRef {
        let arrays = vec![self.a.to_arrow(), self.b.to_arrow(), self.c.to_arrow()];
        Arc::new(StructArray::new(nullable_fields(&arrays), arrays, None))
    }
    fn data_buffers(&self, out: &mut Vec<Buffer>) {
        self.a.data_buffers(out);
        self.b.data_buffers(out);
        self.c.data_buffers(out);
    }
    fn empty() -> Self {
        TripleColumn {
            a: A::Column::empty(),
            b: B::Column::empty(),
            c: C::Column::empty(),
        }
    }
}

/// Builds a triple column.
pub struct TripleBuilder<A: Data, B: Data, C: Data>(A::Builder, B::Builder, C::Builder);

impl<A: Data, B: Data, C: Data> ColumnBuilder for TripleBuilder<A, B, C> {
    type Item = (A, B, C);
    fn new(capacity: usize, sources: &Sources) -> Self {
        TripleBuilder(
            A::Builder::new(capacity, sources),
            B::Builder::new(capacity, sources),
            C::Builder::new(capacity, sources),
        )
    }
    fn push_ref(&mut self, v: (A::Ref<'_>, B::Ref<'_>, C::Ref<'_>)) {
        self.0.push_ref(v.0);
        self.1.push_ref(v.1);
        self.2.push_ref(v.2);
    }
    fn push(&mut self, v: (A, B, C)) {
        self.0.push(v.0);
        self.1.push(v.1);
        self.2.push(v.2);
    }
    fn push_placeholder(&mut self) {
        self.0.push_placeholder();
        self.1.push_placeholder();
        self.2.push_placeholder();
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(self) -> TripleColumn<A, B, C> {
        TripleColumn {
            a: self.0.finish(),
            b: self.1.finish(),
            c: self.2.finish(),
        }
    }
}

impl<A: Value, B: Value, C: Value> Value for (A, B, C) {
    type Data = (A::Data, B::Data, C::Data);
    fn append_to(self, b: &mut TripleBuilder<A::Data, B::Data, C::Data>) {
        self.0.append_to(&mut b.0);
        self.1.append_to(&mut b.1);
        self.2.append_to(&mut b.2);
    }
    fn view(&self) -> Option<<Self::Data as Data>::Ref<'_>> {
        Some((self.0.view()?, self.1.view()?, self.2.view()?))
    }
}
