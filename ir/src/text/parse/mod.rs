//! The parser: IR text to a [`Graph`].
//!
//! Recursive descent over the tokens of [`super::lex`]. Result types are
//! taken from the text, never inferred (the verifier checks them); ops are
//! built with [`Op::from_parts`], whose errors are reported at the op name.
//! Values are scoped per graph (subgraphs are closed). Symbolic dims are
//! rebuilt with the `Dim` arithmetic, so any spelling of a dim parses to its
//! canonical form.
//!
//! Guarantees: no panics; recursion (graph nesting, dim parentheses and
//! `floor`/`ceil`) is bounded by [`MAX_DEPTH`]; a dim expression may not grow
//! past [`MAX_DIM_TERMS`] terms or degree [`MAX_DIM_DEGREE`] (so
//! `(a+b)*(a+b)*...` cannot blow up); a tensor literal's values are counted as
//! they are read, and a declared shape alone never allocates.

mod dims;

pub use dims::{MAX_DIM_DEGREE, MAX_DIM_TERMS};

use super::lex::{lex, Pos, Tok, ValueRef};
use super::literal::{push_elem, Scalar};
use super::ParseError;
use crate::attr::AttrValue;
use crate::dim::Dim;
use crate::dtype::DType;
use crate::graph::{Graph, Value};
use crate::op::Op;
use crate::tensor::Tensor;
use crate::types::TensorType;
use std::collections::{BTreeMap, HashMap};

/// How deeply graphs and dim expressions may nest.
pub const MAX_DEPTH: usize = 64;
/// Parse one graph (comments and surrounding whitespace allowed). Constants
/// printed by reference need [`parse_with_weights`].
pub fn parse(text: &str) -> Result<Graph, ParseError> {
    parse_with_weights(text, &HashMap::new())
}

/// Parse one graph, resolving `@label` tensors from `weights`.
pub fn parse_with_weights(
    text: &str,
    weights: &HashMap<String, Tensor>,
) -> Result<Graph, ParseError> {
    let toks = lex(text)?;
    let mut p = Parser {
        toks,
        i: 0,
        weights,
        depth: 0,
    };
    let g = p.graph()?;
    if *p.peek() != Tok::Eof {
        return Err(p.expected("end of input after the graph"));
    }
    Ok(g)
}

struct Parser<'a> {
    /// Never empty: ends with `Tok::Eof`, which `bump` never passes.
    toks: Vec<(Tok, Pos)>,
    i: usize,
    weights: &'a HashMap<String, Tensor>,
    depth: usize,
}

type Scope = HashMap<ValueRef, Value>;

fn describe_ref(r: &ValueRef) -> String {
    Tok::Value(r.clone()).describe()
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }

    fn peek2(&self) -> &Tok {
        &self.toks[(self.i + 1).min(self.toks.len() - 1)].0
    }

    fn pos(&self) -> Pos {
        self.toks[self.i].1
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks[self.i].0.clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn err_at(&self, p: Pos, msg: impl Into<String>) -> ParseError {
        ParseError::new(p.line, p.col, msg)
    }

    /// "expected <what>, found <current token>" at the current token.
    fn expected(&self, what: &str) -> ParseError {
        self.err_at(
            self.pos(),
            format!("expected {what}, found {}", self.peek().describe()),
        )
    }

    fn eat(&mut self, c: char) -> bool {
        if *self.peek() == Tok::Punct(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, context: &str) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{c}` {context}")))
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Word(x) if x == w)
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(
                self.pos(),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn value_ref(&mut self, what: &str) -> Result<(ValueRef, Pos), ParseError> {
        let p = self.pos();
        match self.peek() {
            Tok::Value(r) => {
                let r = r.clone();
                self.bump();
                Ok((r, p))
            }
            _ => Err(self.expected(what)),
        }
    }

    fn lookup(&self, scope: &Scope, r: &ValueRef, p: Pos) -> Result<Value, ParseError> {
        scope
            .get(r)
            .copied()
            .ok_or_else(|| self.err_at(p, format!("use of undefined value {}", describe_ref(r))))
    }

    /// Record that `r` (at `p`) names `v`.
    fn bind(
        &self,
        g: &mut Graph,
        scope: &mut Scope,
        r: ValueRef,
        p: Pos,
        v: Value,
    ) -> Result<(), ParseError> {
        if scope.contains_key(&r) {
            return Err(self.err_at(p, format!("redefinition of {}", describe_ref(&r))));
        }
        if let ValueRef::Named(name) = &r {
            g.set_name(v, name).map_err(|e| self.err_at(p, e))?;
        }
        scope.insert(r, v);
        Ok(())
    }

    // ---- Graphs ----------------------------------------------------------

    fn graph(&mut self) -> Result<Graph, ParseError> {
        self.enter()?;
        if !self.is_word("graph") {
            return Err(self.expected("`graph`"));
        }
        self.bump();
        let name = match self.peek() {
            Tok::Label(l) => l.clone(),
            _ => return Err(self.expected("a graph name `@name`")),
        };
        self.bump();
        let mut g = Graph::new(name);
        let mut scope = Scope::new();
        self.expect('(', "after the graph name")?;
        if !self.eat(')') {
            loop {
                let (r, p) = self.value_ref("a graph input `%name`")?;
                self.expect(':', "after the input name")?;
                let ty = self.ty()?;
                let ValueRef::Named(name) = &r else {
                    return Err(
                        self.err_at(p, format!("graph input {} must be named", describe_ref(&r)))
                    );
                };
                if scope.contains_key(&r) {
                    return Err(self.err_at(p, format!("redefinition of {}", describe_ref(&r))));
                }
                let v = g.add_input(name, ty).map_err(|e| self.err_at(p, e))?;
                scope.insert(r, v);
                if !self.eat(',') {
                    self.expect(')', "after the graph inputs")?;
                    break;
                }
            }
        }
        if *self.peek() != Tok::Arrow {
            return Err(self.expected("`->` after the graph inputs"));
        }
        self.bump();
        let sig = self.type_list()?;
        self.expect('{', "before the graph body")?;
        while !self.is_word("return") {
            if matches!(self.peek(), Tok::Eof | Tok::Punct('}')) {
                return Err(self.expected("a statement or `return`"));
            }
            self.statement(&mut g, &mut scope)?;
        }
        let ret = self.pos();
        self.bump();
        let mut outs = vec![];
        if matches!(self.peek(), Tok::Value(_)) {
            loop {
                let (r, p) = self.value_ref("a value")?;
                outs.push((self.lookup(&scope, &r, p)?, r, p));
                if !self.eat(',') {
                    break;
                }
            }
        }
        if outs.len() != sig.len() {
            return Err(self.err_at(
                ret,
                format!(
                    "graph returns {} value(s) but its signature declares {}",
                    outs.len(),
                    sig.len()
                ),
            ));
        }
        for ((v, r, p), t) in outs.iter().zip(&sig) {
            if g.ty(*v) != t {
                return Err(self.err_at(
                    *p,
                    format!(
                        "returned value {} has type {} but the signature declares {t}",
                        describe_ref(r),
                        g.ty(*v)
                    ),
                ));
            }
        }
        self.expect('}', "after `return`")?;
        g.set_outputs(outs.into_iter().map(|(v, _, _)| v).collect());
        self.leave();
        Ok(g)
    }

    /// `[results =] op operands [{attrs}] : types [loc("...")]`, or the
    /// constant form `result = const <type> [values] | @label [loc(...)]`.
    fn statement(&mut self, g: &mut Graph, scope: &mut Scope) -> Result<(), ParseError> {
        let mut results = vec![];
        if matches!(self.peek(), Tok::Value(_)) {
            loop {
                results.push(self.value_ref("a result name")?);
                if !self.eat(',') {
                    break;
                }
            }
            self.expect('=', "after the result names")?;
        }
        let op_pos = self.pos();
        let name = match self.peek() {
            Tok::Word(w) => w.clone(),
            _ => return Err(self.expected("an op name")),
        };
        self.bump();
        let short_const =
            name == "const" && matches!(self.peek(), Tok::Word(w) if DType::from_name(w).is_some());
        let node = if short_const {
            let t = self.tensor_literal()?;
            if results.len() != 1 {
                return Err(self.err_at(
                    op_pos,
                    format!("`const` defines 1 value but {} are named", results.len()),
                ));
            }
            let ty = t.ty();
            g.push_node(Op::constant(t), vec![], vec![ty])
        } else {
            let mut operands = vec![];
            if matches!(self.peek(), Tok::Value(_)) {
                loop {
                    let (r, p) = self.value_ref("an operand")?;
                    operands.push(self.lookup(scope, &r, p)?);
                    if !self.eat(',') {
                        break;
                    }
                }
            }
            let mut attrs = BTreeMap::new();
            let had_attrs = self.eat('{');
            if had_attrs && !self.eat('}') {
                loop {
                    let p = self.pos();
                    let key = match self.peek() {
                        Tok::Word(w) => w.clone(),
                        _ => return Err(self.expected("an attribute name")),
                    };
                    self.bump();
                    self.expect('=', "after the attribute name")?;
                    let v = self.attr_value()?;
                    if attrs.insert(key.clone(), v).is_some() {
                        return Err(self.err_at(p, format!("attribute `{key}` is given twice")));
                    }
                    if !self.eat(',') {
                        self.expect('}', "after the attributes")?;
                        break;
                    }
                }
            }
            let ctx = if had_attrs {
                "after the attributes"
            } else {
                "after operands"
            };
            self.expect(':', ctx)?;
            let types_pos = self.pos();
            let types = self.type_list()?;
            if types.len() != results.len() {
                return Err(self.err_at(
                    types_pos,
                    format!(
                        "`{name}` names {} result(s) but gives {} type(s)",
                        results.len(),
                        types.len()
                    ),
                ));
            }
            let op = Op::from_parts(&name, attrs).map_err(|e| self.err_at(op_pos, e))?;
            g.push_node(op, operands, types)
        };
        if self.is_word("loc") && *self.peek2() == Tok::Punct('(') {
            self.bump();
            self.bump();
            let loc = match self.peek() {
                Tok::Str(s) => s.clone(),
                _ => return Err(self.expected("a string in `loc(...)`")),
            };
            self.bump();
            self.expect(')', "after the location")?;
            g.set_loc(node, Some(loc));
        }
        let outs = g.node(node).outputs.clone();
        for ((r, p), v) in results.into_iter().zip(outs) {
            self.bind(g, scope, r, p, v)?;
        }
        Ok(())
    }

    // ---- Types and dims ------------------------------------------------------

    /// `()`, `(t, ...)`, or `t, ...` (at least one).
    fn type_list(&mut self) -> Result<Vec<TensorType>, ParseError> {
        let mut v = vec![];
        if self.eat('(') {
            if self.eat(')') {
                return Ok(v);
            }
            loop {
                v.push(self.ty()?);
                if !self.eat(',') {
                    self.expect(')', "after the types")?;
                    return Ok(v);
                }
            }
        }
        loop {
            v.push(self.ty()?);
            if !self.eat(',') {
                return Ok(v);
            }
        }
    }

    fn ty(&mut self) -> Result<TensorType, ParseError> {
        let dtype = match self.peek() {
            Tok::Word(w) => DType::from_name(w),
            _ => None,
        };
        let Some(dtype) = dtype else {
            return Err(self.expected("a type such as `f32[2,3]`"));
        };
        self.bump();
        self.expect('[', "after the element type")?;
        let mut shape = vec![];
        if !self.eat(']') {
            loop {
                if self.eat('?') {
                    shape.push(Dim::Unknown);
                } else {
                    shape.push(self.dim_expr()?.0);
                }
                if !self.eat(',') {
                    self.expect(']', "after the dims")?;
                    break;
                }
            }
        }
        Ok(TensorType { dtype, shape })
    }

    // ---- Literals ------------------------------------------------------------

    fn scalar(&mut self) -> Result<Scalar, ParseError> {
        let neg = self.eat('-');
        let s = match self.peek() {
            Tok::Int(d) => Scalar::Int {
                neg,
                digits: d.clone(),
            },
            Tok::Float(t) => Scalar::Float {
                neg,
                text: t.clone(),
            },
            Tok::Word(w) if w == "nan" => Scalar::Nan,
            Tok::Word(w) if w == "inf" => Scalar::Inf { neg },
            Tok::Word(w) if !neg && (w == "true" || w == "false") => Scalar::Bool(w == "true"),
            _ => return Err(self.expected("a number")),
        };
        self.bump();
        Ok(s)
    }

    /// `<static type> [v, ...]` or `<static type> @label`.
    fn tensor_literal(&mut self) -> Result<Tensor, ParseError> {
        let ty_pos = self.pos();
        let ty = self.ty()?;
        let dims: Option<Vec<usize>> = ty
            .shape
            .iter()
            .map(|d| d.as_known().and_then(|v| usize::try_from(v).ok()))
            .collect();
        let Some(dims) = dims else {
            return Err(self.err_at(
                ty_pos,
                format!("a tensor literal needs a static shape, found {ty}"),
            ));
        };
        let p = self.pos();
        match self.peek().clone() {
            Tok::Label(l) => {
                self.bump();
                let t = self.weights.get(&l).ok_or_else(|| {
                    self.err_at(
                        p,
                        format!("no weights given for {}", Tok::Label(l.clone()).describe()),
                    )
                })?;
                if t.ty() != ty {
                    return Err(self.err_at(
                        p,
                        format!(
                            "weight {} is {} but the text says {ty}",
                            Tok::Label(l).describe(),
                            t.ty()
                        ),
                    ));
                }
                Ok(t.clone())
            }
            Tok::Punct('[') => {
                self.bump();
                let numel = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                let mut bytes = vec![];
                let mut count = 0usize;
                if !self.eat(']') {
                    loop {
                        let sp = self.pos();
                        let s = self.scalar()?;
                        if Some(count) == numel {
                            return Err(self.err_at(
                                sp,
                                format!("too many values: {ty} has {count} element(s)"),
                            ));
                        }
                        push_elem(ty.dtype, &s, &mut bytes).map_err(|e| self.err_at(sp, e))?;
                        count += 1;
                        if !self.eat(',') {
                            self.expect(']', "after the tensor values")?;
                            break;
                        }
                    }
                }
                if Some(count) != numel {
                    return Err(self.err_at(
                        p,
                        format!(
                            "{ty} needs {} value(s) but {count} are given",
                            match numel {
                                Some(n) => n.to_string(),
                                None => "too many".into(),
                            }
                        ),
                    ));
                }
                Tensor::from_bytes(ty.dtype, &dims, &bytes)
                    .map_err(|e| self.err_at(p, e.to_string()))
            }
            _ => Err(self.expected("tensor values `[...]` or a weight label `@name`")),
        }
    }

    fn attr_value(&mut self) -> Result<AttrValue, ParseError> {
        let p = self.pos();
        if let Tok::Word(w) = self.peek() {
            if let Some(dt) = DType::from_name(w) {
                if *self.peek2() == Tok::Punct('[') {
                    return Ok(AttrValue::Tensor(self.tensor_literal()?));
                }
                self.bump();
                return Ok(AttrValue::DType(dt));
            }
        }
        match self.peek().clone() {
            Tok::Punct('-') | Tok::Int(_) | Tok::Float(_) => self.number_attr(),
            Tok::Word(w) if w == "nan" || w == "inf" => self.number_attr(),
            Tok::Word(w) if w == "true" || w == "false" => {
                self.bump();
                Ok(AttrValue::Bool(w == "true"))
            }
            Tok::Word(w) if w == "graph" => Ok(AttrValue::Graph(Box::new(self.graph()?))),
            Tok::Str(s) => {
                self.bump();
                Ok(AttrValue::Str(s))
            }
            Tok::Punct('[') => {
                self.bump();
                let mut items = vec![];
                if !self.eat(']') {
                    loop {
                        let sp = self.pos();
                        let s = self.scalar()?;
                        if matches!(s, Scalar::Bool(_)) {
                            return Err(self.err_at(sp, "lists hold numbers, not booleans"));
                        }
                        items.push((s, sp));
                        if !self.eat(',') {
                            self.expect(']', "after the list")?;
                            break;
                        }
                    }
                }
                if items.iter().any(|(s, _)| s.is_float()) {
                    let v: Result<Vec<f32>, _> = items
                        .iter()
                        .map(|(s, sp)| s.to_f32().map_err(|e| self.err_at(*sp, e)))
                        .collect();
                    Ok(AttrValue::Floats(v?))
                } else {
                    let v: Result<Vec<i64>, _> = items
                        .iter()
                        .map(|(s, sp)| s.to_i64().map_err(|e| self.err_at(*sp, e)))
                        .collect();
                    Ok(AttrValue::Ints(v?))
                }
            }
            _ => Err(self.err_at(
                p,
                format!(
                    "expected an attribute value, found {}",
                    self.peek().describe()
                ),
            )),
        }
    }

    fn number_attr(&mut self) -> Result<AttrValue, ParseError> {
        let p = self.pos();
        let s = self.scalar()?;
        if s.is_float() {
            s.to_f32().map(AttrValue::Float)
        } else {
            s.to_i64().map(AttrValue::Int)
        }
        .map_err(|e| self.err_at(p, e))
    }
}
