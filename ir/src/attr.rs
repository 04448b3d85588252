//! Op attributes: the generic [`AttrValue`] that the text format and the ONNX
//! importer speak, the [`Attr`] conversion every attribute field type
//! implements, and the small string enums that ONNX attributes use.

use crate::dtype::DType;
use crate::graph::Graph;
use crate::tensor::Tensor;
use std::fmt;

/// An attribute value, untyped. Each op field converts to and from one of these.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum AttrValue {
    Int(i64),
    Float(f32),
    Bool(bool),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    /// Strings and string enums (`mode="linear"`).
    Str(String),
    DType(DType),
    Tensor(Tensor),
    Graph(Box<Graph>),
}

impl AttrValue {
    /// A word for error messages: what kind of value this is.
    pub fn kind(&self) -> &'static str {
        match self {
            AttrValue::Int(_) => "int",
            AttrValue::Float(_) => "float",
            AttrValue::Bool(_) => "bool",
            AttrValue::Ints(_) => "int list",
            AttrValue::Floats(_) => "float list",
            AttrValue::Str(_) => "string",
            AttrValue::DType(_) => "dtype",
            AttrValue::Tensor(_) => "tensor",
            AttrValue::Graph(_) => "graph",
        }
    }
}

/// A type that can be an op attribute field.
pub trait Attr: Sized {
    /// `None` means "absent" (only `Option` fields are ever absent).
    fn to_attr(&self) -> Option<AttrValue>;
    /// Convert from a parsed value; `None` input means the attribute was absent.
    fn from_attr(v: Option<AttrValue>) -> Result<Self, String>;
    /// What the field expects, for error messages.
    fn expected() -> &'static str;
}

fn missing<T: Attr>() -> String {
    format!("missing attribute (expected {})", T::expected())
}

macro_rules! simple_attr {
    ($t:ty, $variant:ident, $what:literal) => {
        impl Attr for $t {
            fn to_attr(&self) -> Option<AttrValue> {
                Some(AttrValue::$variant(self.clone()))
            }
            fn from_attr(v: Option<AttrValue>) -> Result<Self, String> {
                match v {
                    Some(AttrValue::$variant(x)) => Ok(x),
                    Some(other) => Err(format!(
                        "expected {}, found {}",
                        Self::expected(),
                        other.kind()
                    )),
                    None => Err(missing::<Self>()),
                }
            }
            fn expected() -> &'static str {
                $what
            }
        }
    };
}
simple_attr!(i64, Int, "int");
simple_attr!(bool, Bool, "bool");
simple_attr!(Vec<i64>, Ints, "int list");
simple_attr!(String, Str, "string");
simple_attr!(DType, DType, "dtype");
simple_attr!(Tensor, Tensor, "tensor");
simple_attr!(Box<Graph>, Graph, "graph");

impl Attr for f32 {
    fn to_attr(&self) -> Option<AttrValue> {
        Some(AttrValue::Float(*self))
    }
    fn from_attr(v: Option<AttrValue>) -> Result<Self, String> {
        match v {
            Some(AttrValue::Float(x)) => Ok(x),
            // `alpha=1` is a float too.
            Some(AttrValue::Int(i)) => Ok(i as f32),
            Some(other) => Err(format!("expected float, found {}", other.kind())),
            None => Err(missing::<Self>()),
        }
    }
    fn expected() -> &'static str {
        "float"
    }
}

impl Attr for Vec<f32> {
    fn to_attr(&self) -> Option<AttrValue> {
        Some(AttrValue::Floats(self.clone()))
    }
    fn from_attr(v: Option<AttrValue>) -> Result<Self, String> {
        match v {
            Some(AttrValue::Floats(x)) => Ok(x),
            Some(AttrValue::Ints(x)) => Ok(x.into_iter().map(|i| i as f32).collect()),
            Some(other) => Err(format!("expected float list, found {}", other.kind())),
            None => Err(missing::<Self>()),
        }
    }
    fn expected() -> &'static str {
        "float list"
    }
}

impl<T: Attr> Attr for Option<T> {
    fn to_attr(&self) -> Option<AttrValue> {
        self.as_ref().and_then(|v| v.to_attr())
    }
    fn from_attr(v: Option<AttrValue>) -> Result<Self, String> {
        match v {
            None => Ok(None),
            Some(v) => T::from_attr(Some(v)).map(Some),
        }
    }
    fn expected() -> &'static str {
        T::expected()
    }
}

/// Defines a string-valued attribute enum with its spellings.
macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($v),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
            pub fn from_name(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$v),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Attr for $name {
            fn to_attr(&self) -> Option<AttrValue> {
                Some(AttrValue::Str(self.name().to_string()))
            }
            fn from_attr(v: Option<AttrValue>) -> Result<Self, String> {
                match v {
                    Some(AttrValue::Str(s)) => $name::from_name(&s).ok_or_else(|| {
                        format!("unknown {} {:?}; expected one of {}", stringify!($name), s,
                            [$($s),+].join(", "))
                    }),
                    Some(other) => Err(format!("expected string, found {}", other.kind())),
                    None => Err(missing::<Self>()),
                }
            }
            fn expected() -> &'static str {
                concat!("one of ", $("\"", $s, "\" "),+)
            }
        }
    };
}

str_enum!(
    /// How convolution and pooling pad when explicit pads are not given.
    AutoPad { NotSet = "notset", SameUpper = "same_upper", SameLower = "same_lower", Valid = "valid" }
);
str_enum!(
    /// Resize interpolation.
    ResizeMode { Nearest = "nearest", Linear = "linear", Cubic = "cubic" }
);
str_enum!(
    /// Resize's mapping from output to input coordinates.
    CoordMode {
        HalfPixel = "half_pixel",
        HalfPixelSymmetric = "half_pixel_symmetric",
        PytorchHalfPixel = "pytorch_half_pixel",
        AlignCorners = "align_corners",
        Asymmetric = "asymmetric",
        TfCropAndResize = "tf_crop_and_resize",
    }
);
str_enum!(
    /// How Resize's nearest mode rounds.
    NearestMode {
        RoundPreferFloor = "round_prefer_floor",
        RoundPreferCeil = "round_prefer_ceil",
        Floor = "floor",
        Ceil = "ceil",
    }
);
str_enum!(
    /// Resize's policy when `sizes` and the aspect ratio disagree.
    AspectPolicy { Stretch = "stretch", NotLarger = "not_larger", NotSmaller = "not_smaller" }
);
str_enum!(
    /// Pad's fill mode.
    PadMode { Constant = "constant", Reflect = "reflect", Edge = "edge", Wrap = "wrap" }
);
str_enum!(
    /// How Scatter* combines an update with the existing element.
    ScatterReduction { None = "none", Add = "add", Mul = "mul", Max = "max", Min = "min" }
);
str_enum!(
    /// DepthToSpace's channel ordering.
    DepthToSpaceMode { Dcr = "DCR", Crd = "CRD" }
);
str_enum!(
    /// Gelu's formula: exact (erf) or the tanh approximation.
    GeluApprox { None = "none", Tanh = "tanh" }
);
str_enum!(
    /// BitShift's direction.
    ShiftDirection { Left = "left", Right = "right" }
);
