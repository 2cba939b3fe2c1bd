//! Numbers and booleans: columns are Arrow scalar buffers without nulls.

use super::view::ScopeId;
use super::{Column, ColumnBuilder, Data, Sources, Value, downcast_non_null};
use crate::error::Result;
use arrow_array::types::*;
use arrow_array::{ArrayRef, BooleanArray, PrimitiveArray};
use arrow_buffer::{BooleanBuffer, BooleanBufferBuilder, Buffer, ScalarBuffer};
use arrow_schema::DataType;
use std::fmt;
use std::sync::Arc;

/// Builds a primitive column.
pub struct PrimitiveBuilder<T>(Vec<T>);

macro_rules! primitive {
    ($t:ty, $arrow:ty, $dt:expr, $fmt:path) => {
        primitive!($t, $arrow, $dt, $fmt, {});
    };
    ($t:ty, $arrow:ty, $dt:expr, $fmt:path, i64) => {
        primitive!($t, $arrow, $dt, $fmt, {
            fn to_i64(v: $t) -> Option<i64> {
                Some(v as i64)
            }
            fn from_i64(v: i64) -> Option<$t> {
                <$t>::try_from(v).ok()
            }
            fn i64_values(col: &ScalarBuffer<$t>) -> Option<std::borrow::Cow<'_, [i64]>> {
                Some(i64_values(col))
            }
            /// Narrowing keeps the low bits: an `i64` sum of `i32`s narrowed is their wrapping
            /// `i32` sum, the JVM's `Int` overflow behaviour.
            fn column_from_i64(values: Vec<i64>) -> Option<ScalarBuffer<$t>> {
                Some(values.into_iter().map(|v| v as $t).collect::<Vec<$t>>().into())
            }
        });
    };
    ($t:ty, $arrow:ty, $dt:expr, $fmt:path, { $($hooks:item)* }) => {
        impl Data for $t {
            type Ref<'a> = $t;
            type Arg = $t;
            type Column = ScalarBuffer<$t>;
            type Builder = PrimitiveBuilder<$t>;
            fn to_owned_value(r: $t) -> Self {
                r
            }
            fn shorten<'a, 'b: 'a>(r: $t) -> $t {
                r
            }
            #[inline]
            fn arg(r: $t, _scope: ScopeId) -> $t {
                r
            }
            fn fmt_spark(r: $t, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                $fmt(r, f)
            }
            fn data_type() -> DataType {
                $dt
            }
            /// Shares the array's value buffer.
            fn column_from_arrow(array: &ArrayRef) -> Result<ScalarBuffer<$t>> {
                Ok(downcast_non_null::<Self, PrimitiveArray<$arrow>>(array)?.values().clone())
            }
            $($hooks)*
        }

        impl Column for ScalarBuffer<$t> {
            type Item = $t;
            fn len(&self) -> usize {
                (**self).len()
            }
            #[inline]
            fn value(&self, i: usize) -> $t {
                self[i]
            }
            fn to_arrow(&self) -> ArrayRef {
                Arc::new(PrimitiveArray::<$arrow>::new(self.clone(), None))
            }
            fn data_buffers(&self, _out: &mut Vec<Buffer>) {}
            fn empty() -> Self {
                ScalarBuffer::from(Vec::<$t>::new())
            }
        }

        impl ColumnBuilder for PrimitiveBuilder<$t> {
            type Item = $t;
            fn new(capacity: usize, _sources: &Sources) -> Self {
                PrimitiveBuilder(Vec::with_capacity(capacity))
            }
            #[inline]
            fn push_ref(&mut self, v: $t) {
                self.0.push(v);
            }
            #[inline]
            fn push(&mut self, v: $t) {
                self.0.push(v);
            }
            fn push_placeholder(&mut self) {
                self.0.push(<$t>::default());
            }
            fn len(&self) -> usize {
                self.0.len()
            }
            fn finish(self) -> ScalarBuffer<$t> {
                ScalarBuffer::from(self.0)
            }
        }
    };
}

fn fmt_integer<T: fmt::Display>(v: T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{v}")
}

/// Java's `Double.toString`: `1.0`, `0.5`, `1.0E7`, `1.234E-5`, `NaN`, `Infinity`.
fn fmt_f64(v: f64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if v.is_nan() {
        return f.write_str("NaN");
    }
    if v.is_infinite() {
        return f.write_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    }
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        if s.contains('.') {
            f.write_str(&s)
        } else {
            write!(f, "{s}.0")
        }
    } else {
        // Shortest digits in scientific form, with Java's mantissa style (at least one decimal).
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        write!(f, "{mantissa}E{exp}")
    }
}

fn fmt_f32(v: f32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    // Shortest f32 digits, laid out as Java's Float.toString.
    let shortest: f64 = format!("{v}").parse().unwrap_or(v as f64);
    fmt_f64(shortest, f)
}

/// An integer column as `i64`s: borrowed for `i64`, widened otherwise.
fn i64_values<T>(col: &ScalarBuffer<T>) -> std::borrow::Cow<'_, [i64]>
where
    T: arrow_buffer::ArrowNativeType + Into<i64>,
{
    match (col as &dyn std::any::Any).downcast_ref::<ScalarBuffer<i64>>() {
        Some(same) => std::borrow::Cow::Borrowed(same),
        None => std::borrow::Cow::Owned(col.iter().map(|&v| v.into()).collect()),
    }
}

primitive!(i8, Int8Type, DataType::Int8, fmt_integer, i64);
primitive!(i16, Int16Type, DataType::Int16, fmt_integer, i64);
primitive!(i32, Int32Type, DataType::Int32, fmt_integer, i64);
primitive!(i64, Int64Type, DataType::Int64, fmt_integer, i64);
primitive!(u8, UInt8Type, DataType::UInt8, fmt_integer, i64);
primitive!(u16, UInt16Type, DataType::UInt16, fmt_integer, i64);
primitive!(u32, UInt32Type, DataType::UInt32, fmt_integer, i64);
primitive!(u64, UInt64Type, DataType::UInt64, fmt_integer);
primitive!(f32, Float32Type, DataType::Float32, fmt_f32);
primitive!(f64, Float64Type, DataType::Float64, fmt_f64);

/// The one integer type closures return: `i64` (Spark's `Long`, Python's `int`). Being the only
/// integer [`Value`], it is what an integer literal in a result becomes, so `(w, 1)` makes a
/// `(String, i64)` stream that joins and unions with other counts, and literals compared with
/// results need no suffix. Columns of other integer types come from sources
/// ([`Data`] covers them); a closure turns them into `i64` (`i64::from(x)`, `w.len() as i64`).
impl Value for i64 {
    type Data = i64;
    #[inline]
    fn append_to(self, b: &mut PrimitiveBuilder<i64>) {
        b.0.push(self);
    }
    #[inline]
    fn view(&self) -> Option<i64> {
        Some(*self)
    }
}

macro_rules! stored_as_is {
    ($($t:ty),*) => {$(
        impl Value for $t {
            type Data = $t;
            #[inline]
            fn append_to(self, b: &mut PrimitiveBuilder<$t>) {
                b.0.push(self);
            }
            #[inline]
            fn view(&self) -> Option<$t> {
                Some(*self)
            }
        }
    )*};
}

stored_as_is!(f32, f64);

impl Data for bool {
    type Ref<'a> = bool;
    type Arg = bool;
    type Column = BooleanBuffer;
    type Builder = BoolBuilder;
    fn to_owned_value(r: bool) -> Self {
        r
    }
    fn shorten<'a, 'b: 'a>(r: bool) -> bool {
        r
    }
    fn arg(r: bool, _scope: ScopeId) -> bool {
        r
    }
    fn fmt_spark(r: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{r}")
    }
    fn data_type() -> DataType {
        DataType::Boolean
    }
    /// Shares the array's bit buffer (at its bit offset).
    fn column_from_arrow(array: &ArrayRef) -> Result<BooleanBuffer> {
        Ok(downcast_non_null::<Self, BooleanArray>(array)?
            .values()
            .clone())
    }
}

impl Column for BooleanBuffer {
    type Item = bool;
    fn len(&self) -> usize {
        BooleanBuffer::len(self)
    }
    fn value(&self, i: usize) -> bool {
        BooleanBuffer::value(self, i)
    }
    fn to_arrow(&self) -> ArrayRef {
        Arc::new(BooleanArray::new(self.clone(), None))
    }
    fn data_buffers(&self, _out: &mut Vec<Buffer>) {}
    fn empty() -> Self {
        BooleanBuffer::new_unset(0)
    }
}

/// Builds a `bool` column.
pub struct BoolBuilder(BooleanBufferBuilder);

impl ColumnBuilder for BoolBuilder {
    type Item = bool;
    fn new(capacity: usize, _sources: &Sources) -> Self {
        BoolBuilder(BooleanBufferBuilder::new(capacity))
    }
    fn push_ref(&mut self, v: bool) {
        self.0.append(v);
    }
    fn push(&mut self, v: bool) {
        self.0.append(v);
    }
    fn push_placeholder(&mut self) {
        self.0.append(false);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(mut self) -> BooleanBuffer {
        self.0.finish()
    }
}

impl Value for bool {
    type Data = bool;
    fn append_to(self, b: &mut BoolBuilder) {
        b.0.append(self);
    }
    fn view(&self) -> Option<bool> {
        Some(*self)
    }
}

#[cfg(test)]
mod tests {
    use crate::data::SparkDisplay;

    #[test]
    fn doubles_print_as_java_does() {
        let show = |v: f64| SparkDisplay::<f64>(v).to_string();
        assert_eq!(show(1.0), "1.0");
        assert_eq!(show(0.5), "0.5");
        assert_eq!(show(-2.25), "-2.25");
        assert_eq!(show(1e7), "1.0E7");
        assert_eq!(show(1.5e-5), "1.5E-5");
        assert_eq!(show(f64::NAN), "NaN");
        assert_eq!(SparkDisplay::<f32>(0.1).to_string(), "0.1");
    }
}
