//! Attribute macros for `lockdep` (re-exported by it; use them as `lockdep::…`).
//!
//! * [`macro@lock_class`] — on a type: one named class shared by every instance's lock(s); on a
//!   struct's fields: one named class per field.
//! * [`macro@section`] / [`macro@signalling`] — on a function: hold a pseudo-lock for the whole
//!   body (a fence-signalling section, a reclaim section, …).
//! * [`macro@requires_held`] / [`macro@must_not_hold`] — on a function: check on entry that the
//!   given locks are held, or that no lock of the given locks' classes is.
//!
//! With the `check` feature off (lockdep's `check` turns it on) the function attributes expand
//! to the plain function. `lock_class` still adds its class accessors, which are plain statics
//! holding a name, so code that uses them compiles the same either way.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Fields, Item, ItemFn, LitStr, Meta, Token};

const ENABLED: bool = cfg!(feature = "check");

fn error(span: Span, msg: &str) -> TokenStream {
    syn::Error::new(span, msg).to_compile_error().into()
}

/// `name = "..."`.
fn parse_name(args: TokenStream2, what: &str) -> syn::Result<LitStr> {
    let span = args.span();
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut name = None;
    for m in metas {
        match m {
            Meta::NameValue(nv) if nv.path.is_ident("name") => match nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => {
                    if s.value().is_empty() {
                        return Err(syn::Error::new(s.span(), "the class name must not be empty"));
                    }
                    name = Some(s)
                }
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "the class name must be a string literal, e.g. name = \"&dev->lock\"",
                    ))
                }
            },
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    format!("unknown argument to {what}: expected name = \"...\""),
                ))
            }
        }
    }
    name.ok_or_else(|| {
        syn::Error::new(
            span,
            format!("{what} needs a class name: #[{what}(name = \"...\")]"),
        )
    })
}

/// Gives locks a named class.
///
/// On a type, `#[lock_class(name = "reservation_ww_class")]` adds
/// `fn lock_class() -> &'static lockdep::LockClass`: construct the type's locks with
/// `Mutex::with_class(v, Self::lock_class())` and every instance shares the class.
///
/// On a struct, fields marked `#[lock_class(name = "&dev->struct_mutex")]` (the struct itself
/// carrying a bare `#[lock_class]`) each get `fn <field>_class() -> &'static LockClass`.
///
/// With `#[derive(Default)]` on the struct (written below `#[lock_class]`, so that this
/// attribute sees it), `Default` is generated here instead: each marked field is built in its
/// class (`lockdep::WithClass::with_class(Default::default(), Self::<field>_class())`), and
/// each other field by `Default::default()` at the field's own position, so a lock field left
/// unmarked is a class of its own too, not one class with every other field of every struct
/// the derive made. The order matters: a `#[derive(Default)]` written *above* `#[lock_class]`
/// is expanded before this attribute sees the struct, and its `Default` (one class for every
/// lock field) is the one the struct gets.
#[proc_macro_attribute]
pub fn lock_class(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = TokenStream2::from(args);
    let mut item = match syn::parse::<Item>(item) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error().into(),
    };
    let (ident, generics) = match &item {
        Item::Struct(s) => (s.ident.clone(), s.generics.clone()),
        Item::Enum(e) => (e.ident.clone(), e.generics.clone()),
        Item::Union(u) => (u.ident.clone(), u.generics.clone()),
        other => return error(other.span(), "#[lock_class] applies to a struct, enum or union"),
    };
    let mut accessors = Vec::new();
    let mut default_impl = None;
    if !args.is_empty() {
        let name = match parse_name(args, "lock_class") {
            Ok(n) => n,
            Err(e) => return e.to_compile_error().into(),
        };
        accessors.push(accessor(
            format_ident!("lock_class"),
            &name,
            "every instance of this type",
        ));
    }
    if let Item::Struct(s) = &mut item {
        let derives_default = match take_derived_default(&mut s.attrs) {
            Ok(d) => d,
            Err(e) => return e.to_compile_error().into(),
        };
        let mut inits = Vec::new();
        let fields = match &mut s.fields {
            Fields::Named(f) => f.named.iter_mut().collect::<Vec<_>>(),
            Fields::Unnamed(f) => f.unnamed.iter_mut().collect(),
            Fields::Unit => Vec::new(),
        };
        for (i, field) in fields.into_iter().enumerate() {
            let mut keep = Vec::new();
            let mut class_of_field = None;
            for attr in field.attrs.drain(..) {
                if !attr.path().is_ident("lock_class") {
                    keep.push(attr);
                    continue;
                }
                let tokens = match &attr.meta {
                    Meta::List(l) => l.tokens.clone(),
                    other => {
                        return error(
                            other.span(),
                            "a field needs a class name: #[lock_class(name = \"...\")]",
                        )
                    }
                };
                let name = match parse_name(tokens, "lock_class") {
                    Ok(n) => n,
                    Err(e) => return e.to_compile_error().into(),
                };
                let fname = match &field.ident {
                    Some(id) => format_ident!("{}_class", id),
                    None => format_ident!("field{}_class", i),
                };
                accessors.push(accessor(fname.clone(), &name, "this field in every instance"));
                class_of_field = Some(fname);
            }
            field.attrs = keep;
            inits.push(field_default(field, class_of_field));
        }
        if derives_default {
            default_impl = Some(default_impl_for(s, &inits));
        }
    }
    if accessors.is_empty() {
        return error(
            Span::call_site(),
            "#[lock_class] needs a name (#[lock_class(name = \"...\")]) or fields marked #[lock_class(name = \"...\")]",
        );
    }
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    quote! {
        #item
        impl #impl_g #ident #ty_g #where_c {
            #(#accessors)*
        }
        #default_impl
    }
    .into()
}

/// Removes `Default` from the struct's `#[derive(..)]` lists (the attribute itself if nothing
/// is left) and says whether it was there: `#[lock_class]` then writes the `Default` impl
/// itself, because the derived one would build every lock field at one call site (the derive)
/// and so in one class.
fn take_derived_default(attrs: &mut Vec<syn::Attribute>) -> syn::Result<bool> {
    let mut found = false;
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        if !attr.path().is_ident("derive") {
            kept.push(attr);
            continue;
        }
        let paths = attr.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)?;
        let before = paths.len();
        let rest: Vec<syn::Path> = paths
            .into_iter()
            .filter(|p| p.segments.last().is_none_or(|s| s.ident != "Default"))
            .collect();
        found |= rest.len() != before;
        if !rest.is_empty() {
            kept.push(syn::parse_quote!(#[derive(#(#rest),*)]));
        }
    }
    *attrs = kept;
    Ok(found)
}

/// The expression that builds `field` in the generated `Default`: in its named class for a
/// field marked `#[lock_class(..)]` (through `lockdep::WithClass`), else `Default::default()`
/// spanned at the field, so a lock field left unmarked still gets a class of its own (its
/// `#[track_caller]` site is the field's declaration, not the derive).
fn field_default(field: &syn::Field, class: Option<proc_macro2::Ident>) -> TokenStream2 {
    let ty = &field.ty;
    let value = match class {
        Some(class) => quote_spanned! {field.span()=>
            <#ty as ::lockdep::WithClass>::with_class(::core::default::Default::default(), Self::#class())
        },
        None => quote_spanned!(field.span()=> ::core::default::Default::default()),
    };
    match &field.ident {
        Some(name) => quote!(#name: #value),
        None => value,
    }
}

/// `impl Default` for the struct, with the bounds `#[derive(Default)]` would add (every type
/// parameter `Default`).
fn default_impl_for(s: &syn::ItemStruct, inits: &[TokenStream2]) -> TokenStream2 {
    let ident = &s.ident;
    let mut generics = s.generics.clone();
    let params: Vec<_> = generics.type_params().map(|p| p.ident.clone()).collect();
    let where_clause = generics.make_where_clause();
    for p in params {
        where_clause
            .predicates
            .push(syn::parse_quote!(#p: ::core::default::Default));
    }
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    let body = match &s.fields {
        Fields::Named(_) => quote!(Self { #(#inits),* }),
        Fields::Unnamed(_) => quote!(Self(#(#inits),*)),
        Fields::Unit => quote!(Self),
    };
    quote! {
        impl #impl_g ::core::default::Default for #ident #ty_g #where_c {
            fn default() -> Self {
                #body
            }
        }
    }
}

fn accessor(fname: proc_macro2::Ident, name: &LitStr, whose: &str) -> TokenStream2 {
    let doc = format!("The lock class `{}`, shared by {whose}.", name.value());
    quote_spanned! {name.span()=>
        #[doc = #doc]
        #[allow(dead_code)]
        pub fn #fname() -> &'static ::lockdep::LockClass {
            static CLASS: ::lockdep::LockClass = ::lockdep::LockClass::new(#name);
            &CLASS
        }
    }
}

/// `MAP` or `MAP, mode = "..."`.
struct SectionArgs {
    map: Expr,
    mode: Option<LitStr>,
}

impl Parse for SectionArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error("expected the pseudo-lock to hold, e.g. #[section(DMA_FENCE_MAP)]"));
        }
        let map: Expr = input.parse()?;
        let mut mode = None;
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if !input.is_empty() {
                let key: syn::Ident = input.parse()?;
                if key != "mode" {
                    return Err(syn::Error::new(
                        key.span(),
                        "unknown argument: expected mode = \"...\"",
                    ));
                }
                input.parse::<Token![=]>()?;
                mode = Some(input.parse()?);
                if input.peek(Token![,]) {
                    input.parse::<Token![,]>()?;
                }
            }
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the section arguments"));
        }
        Ok(SectionArgs { map, mode })
    }
}

fn parse_fn(item: TokenStream, what: &str) -> Result<ItemFn, TokenStream> {
    let item2 = TokenStream2::from(item.clone());
    match syn::parse::<ItemFn>(item) {
        Ok(f) => Ok(f),
        Err(_) => Err(error(item2.span(), &format!("#[{what}] applies to functions"))),
    }
}

/// Wraps `f`'s body: `prologue` runs first, and its bindings live until the body returns.
fn wrap(mut f: ItemFn, prologue: TokenStream2) -> TokenStream {
    if f.sig.asyncness.is_some() {
        return error(
            f.sig.asyncness.span(),
            "lockdep annotations cannot span an `async fn`'s awaits: annotate the synchronous parts",
        );
    }
    let body = &f.block;
    f.block = syn::parse_quote!({
        #prologue
        #body
    });
    quote!(#f).into()
}

fn section_impl(args: SectionArgs, item: TokenStream, what: &str, default_mode: &str) -> TokenStream {
    let f = match parse_fn(item.clone(), what) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let mode = args
        .mode
        .as_ref()
        .map(|m| m.value())
        .unwrap_or_else(|| default_mode.to_string());
    let method = match mode.as_str() {
        "write" => quote!(lock),
        "read" => quote!(read),
        "read_recursive" => quote!(read_recursive),
        "try_read" => quote!(try_read),
        "try_write" => quote!(try_lock),
        _ => {
            let span = args.mode.as_ref().map_or(Span::call_site(), |m| m.span());
            return error(
                span,
                "mode must be one of \"write\", \"read\", \"read_recursive\", \"try_read\", \"try_write\"",
            );
        }
    };
    if !ENABLED {
        return quote!(#f).into();
    }
    let map = &args.map;
    let prologue = quote_spanned! {map.span()=>
        let __lockdep_section = ::lockdep::LockMap::#method(&#map);
    };
    wrap(f, prologue)
}

/// Holds a pseudo-lock ([`LockMap`](../lockdep/struct.LockMap.html)) for the whole body of the
/// function: `#[section(FS_RECLAIM)]` (exclusive) or
/// `#[section(MAP, mode = "read" | "read_recursive" | "try_read" | "try_write" | "write")]`.
#[proc_macro_attribute]
pub fn section(args: TokenStream, item: TokenStream) -> TokenStream {
    match syn::parse::<SectionArgs>(args) {
        Ok(a) => section_impl(a, item, "section", "write"),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Makes the whole function a fence-signalling section: `#[signalling(DMA_FENCE_MAP)]` holds
/// the map as a read-trylock (`dma_fence_begin_signalling`) until the function returns, so
/// every lock taken inside is ordered after it and a fence wait under any of them is a cycle.
#[proc_macro_attribute]
pub fn signalling(args: TokenStream, item: TokenStream) -> TokenStream {
    match syn::parse::<SectionArgs>(args) {
        Ok(a) if a.mode.is_some() => error(
            a.mode.unwrap().span(),
            "#[signalling] always uses try_read; use #[section(.., mode = ..)] for other modes",
        ),
        Ok(a) => section_impl(a, item, "signalling", "try_read"),
        Err(e) => e.to_compile_error().into(),
    }
}

fn lock_list(args: TokenStream, what: &str) -> Result<Vec<Expr>, TokenStream> {
    let span = TokenStream2::from(args.clone()).span();
    let list = Punctuated::<Expr, Token![,]>::parse_terminated
        .parse(args)
        .map_err(|e| TokenStream::from(e.to_compile_error()))?;
    if list.is_empty() {
        return Err(error(
            span,
            &format!("#[{what}] needs at least one lock, e.g. #[{what}(self.lock)]"),
        ));
    }
    Ok(list.into_iter().collect())
}

/// The shared shape of the entry checks: one statement per listed lock, made by `check` from
/// the lock expression and the function's name, run before the body.
fn entry_checks(
    args: TokenStream,
    item: TokenStream,
    what: &str,
    check: impl Fn(&Expr, &str) -> TokenStream2,
) -> TokenStream {
    let locks = match lock_list(args, what) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let f = match parse_fn(item, what) {
        Ok(f) => f,
        Err(e) => return e,
    };
    if !ENABLED {
        return quote!(#f).into();
    }
    let name = f.sig.ident.to_string();
    let checks = locks.iter().map(|l| check(l, &name));
    wrap(f, quote!(#(#checks)*))
}

/// Checks on entry that the current thread holds each lock given (expressions, which may use
/// the parameters): `#[requires_held(self.state, obj.resv)]`. A missing lock is a report.
#[proc_macro_attribute]
pub fn requires_held(args: TokenStream, item: TokenStream) -> TokenStream {
    entry_checks(
        args,
        item,
        "requires_held",
        |l, _| quote_spanned!(l.span()=> ::lockdep::assert_held(&#l);),
    )
}

/// Checks on entry that the current thread holds no lock of the class of each lock given:
/// `#[must_not_hold(DRM_UNPLUG_SRCU)]` on a fence wait. Holding one is a report naming the
/// function.
#[proc_macro_attribute]
pub fn must_not_hold(args: TokenStream, item: TokenStream) -> TokenStream {
    entry_checks(
        args,
        item,
        "must_not_hold",
        |l, name| quote_spanned!(l.span()=> ::lockdep::must_not_hold(&#l, #name);),
    )
}
