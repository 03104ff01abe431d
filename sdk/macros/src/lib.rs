//! `#[commands]`, re-exported by `wasm-mgr-sdk`: ceph command signatures, help and
//! dispatch derived from a module's handler methods, as ceph's `@CLIReadCommand`
//! derives them from a Python function.
//!
//! Not for use on its own: the generated code names `::wasm_mgr_sdk`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, Expr, ExprLit, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Lit, LitStr,
    Meta, Pat, Token, Type, parse_macro_input, punctuated::Punctuated,
};

/// Derives the commands of a module from the methods of its `impl Module for T`
/// block marked `#[read_command("prefix")]`, `#[write_command("prefix")]` or
/// `#[command("prefix", perm = "r")]`.
///
/// Each such method becomes a command: its parameters the command's arguments
/// (`String`/`&str` → `CephString`, integers → `CephInt`, `f64` → `CephFloat`,
/// `bool` → `CephBool`, `Vec<T>` → `n=N`, `Option<T>` → `req=false`,
/// `#[choices("a", "b")]` → `CephChoices`), its doc comment the help text. A
/// parameter of type `&Command` gets the whole command dict, one named `inbuf` the
/// input buffer, one named `format` the `--format` asked for. The block's
/// `describe` is extended with the commands and `handle_command` dispatches them;
/// a `handle_command` written in the block gets every other prefix.
#[proc_macro_attribute]
pub fn commands(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let attr = Tokens::from(attr);
        return Error::new(attr.span(), "#[commands] takes no arguments")
            .to_compile_error()
            .into();
    }
    let block = parse_macro_input!(item as ItemImpl);
    expand(block)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

/// Marks a method that serves a read-only command (perm `r`), inside a `#[commands]` block.
#[proc_macro_attribute]
pub fn read_command(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside_commands("read_command", item)
}

/// Marks a method that serves a command that changes things (perm `rw`), inside a
/// `#[commands]` block.
#[proc_macro_attribute]
pub fn write_command(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside_commands("write_command", item)
}

/// Marks a method that serves a command (`#[command("prefix", perm = "r")]`, perm `rw`
/// by default), inside a `#[commands]` block.
#[proc_macro_attribute]
pub fn command(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside_commands("command", item)
}

/// The command attributes only mean something inside `#[commands]`, which removes them.
fn outside_commands(name: &str, item: TokenStream) -> TokenStream {
    let item = Tokens::from(item);
    let message = format!(
        "#[{name}] marks a method of an `impl Module for T` block that has #[commands] on it"
    );
    let error = Error::new(item.span(), message).to_compile_error();
    quote!(#error #item).into()
}

/// What a command attribute says: the prefix and the permission.
struct CommandAttr {
    prefix: LitStr,
    perm: String,
}

/// `"prefix"` or `"prefix", perm = "r"`.
struct CommandArgs {
    prefix: LitStr,
    perm: Option<LitStr>,
}

impl Parse for CommandArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let prefix: LitStr = input.parse()?;
        let mut perm = None;
        if input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let key: Ident = input.parse()?;
            if key != "perm" {
                return Err(Error::new(key.span(), "expected `perm = \"r\"`"));
            }
            input.parse::<Token![=]>()?;
            perm = Some(input.parse()?);
            input.parse::<Option<Token![,]>>()?;
        }
        Ok(Self { prefix, perm })
    }
}

/// The command attribute of a method, if it has one; removes it.
fn take_command_attr(method: &mut ImplItemFn) -> syn::Result<Option<CommandAttr>> {
    let mut found = None;
    let mut kept = Vec::new();
    for attr in method.attrs.drain(..) {
        let Some(name) = attr.path().get_ident().map(Ident::to_string) else {
            kept.push(attr);
            continue;
        };
        let default_perm = match name.as_str() {
            "read_command" => "r",
            "write_command" => "rw",
            "command" => "rw",
            _ => {
                kept.push(attr);
                continue;
            }
        };
        if found.is_some() {
            return Err(Error::new(attr.span(), "a method serves one command"));
        }
        let args: CommandArgs = attr.parse_args()?;
        let perm = match (name.as_str(), args.perm) {
            ("command", Some(perm)) => perm.value(),
            (_, Some(perm)) => {
                return Err(Error::new(
                    perm.span(),
                    format!("#[{name}] sets the permission; use #[command(.., perm = ..)]"),
                ));
            }
            (_, None) => default_perm.to_owned(),
        };
        if perm != "r" && perm != "rw" && perm != "w" {
            return Err(Error::new(attr.span(), "perm is \"r\", \"w\" or \"rw\""));
        }
        found = Some(CommandAttr {
            prefix: args.prefix,
            perm,
        });
    }
    method.attrs = kept;
    Ok(found)
}

/// The doc comment of a method, its lines joined by spaces: the command's help.
fn help_text(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .filter(|line| !line.is_empty())
        .collect();
    lines.join(" ")
}

/// `#[choices("a", "b")]` on a parameter, removed; the words if present.
fn take_choices(attrs: &mut Vec<Attribute>) -> syn::Result<Option<Vec<LitStr>>> {
    let mut choices = None;
    let mut kept = Vec::new();
    for attr in attrs.drain(..) {
        if attr.path().is_ident("choices") {
            let words = attr.parse_args_with(Punctuated::<LitStr, Token![,]>::parse_terminated)?;
            if words.is_empty() {
                return Err(Error::new(
                    attr.span(),
                    "#[choices] needs at least one word",
                ));
            }
            choices = Some(words.into_iter().collect());
        } else {
            kept.push(attr);
        }
    }
    *attrs = kept;
    Ok(choices)
}

/// Whether `ty` is `&Command` (any path ending in `Command`).
fn is_command_ref(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    let Type::Path(path) = &*reference.elem else {
        return false;
    };
    path.path
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "Command")
}

/// One command: its entry in `describe` and its arm in `handle_command`.
struct Derived {
    describe: Tokens,
    dispatch: Tokens,
}

/// Derives one command from a handler method (whose command attribute was removed).
fn derive(method: &mut ImplItemFn, attr: CommandAttr) -> syn::Result<Derived> {
    let sig = &mut method.sig;
    let name = &sig.ident;
    if !matches!(sig.inputs.first(), Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none())
    {
        return Err(Error::new(
            sig.span(),
            "a command handler takes `&self` first",
        ));
    }
    let mut specs = Vec::new();
    let mut binds = Vec::new();
    let mut passed = Vec::new();
    for (index, input) in sig.inputs.iter_mut().enumerate().skip(1) {
        let FnArg::Typed(param) = input else {
            unreachable!("only the first input can be a receiver")
        };
        let choices = take_choices(&mut param.attrs)?;
        let Pat::Ident(pat) = &*param.pat else {
            return Err(Error::new(
                param.pat.span(),
                "a command argument needs a plain name: it is the argument's name",
            ));
        };
        let ident = pat.ident.to_string();
        let arg_name = ident.strip_prefix("r#").unwrap_or(&ident);
        let var = format_ident!("__arg{}", index);
        let ty = &param.ty;
        let bare = arg_name.trim_start_matches('_');
        if is_command_ref(ty) {
            passed.push(quote!(command));
        } else if bare == "inbuf" {
            passed.push(quote!(inbuf));
        } else if bare == "format" {
            passed.push(quote!(command.format()));
        } else {
            if arg_name == "prefix" {
                return Err(Error::new(
                    pat.ident.span(),
                    "`prefix` is the command's own key; name the argument otherwise",
                ));
            }
            let choices = choices.unwrap_or_default();
            specs.push(quote! {
                (#arg_name, <#ty as ::wasm_mgr_sdk::__macro::FromArg>::SPEC, &[#(#choices),*])
            });
            binds.push(quote! {
                let #var = match <#ty as ::wasm_mgr_sdk::__macro::FromArg>::from_arg(command, #arg_name) {
                    ::std::result::Result::Ok(value) => value,
                    ::std::result::Result::Err(failure) => return failure,
                };
            });
            passed.push(quote!(#var));
        }
    }
    let help = help_text(&method.attrs);
    if help.is_empty() {
        return Err(Error::new(
            sig.ident.span(),
            "a command handler needs a doc comment: it is the command's help",
        ));
    }
    let prefix = &attr.prefix;
    let perm = &attr.perm;
    let call = if sig.asyncness.is_some() {
        quote!(self.#name(#(#passed),*).await)
    } else {
        quote!(self.#name(#(#passed),*))
    };
    Ok(Derived {
        describe: quote! {
            .command(&::wasm_mgr_sdk::__macro::signature(#prefix, &[#(#specs),*]), #help, #perm)
        },
        dispatch: quote! {
            #prefix => {
                #(#binds)*
                ::wasm_mgr_sdk::__macro::IntoCommandResult::into_command_result(#call)
            }
        },
    })
}

fn expand(mut block: ItemImpl) -> syn::Result<Tokens> {
    if block.trait_.is_none() {
        return Err(Error::new(
            block.self_ty.span(),
            "#[commands] goes on the `impl Module for T` block",
        ));
    }
    let mut derived = Vec::new();
    let mut inherent: Vec<ImplItem> = Vec::new();
    let mut kept: Vec<ImplItem> = Vec::new();
    let mut has_describe = false;
    let mut has_handler = false;
    for item in std::mem::take(&mut block.items) {
        let ImplItem::Fn(mut method) = item else {
            kept.push(item);
            continue;
        };
        if let Some(attr) = take_command_attr(&mut method)? {
            derived.push(derive(&mut method, attr)?);
            inherent.push(ImplItem::Fn(method));
            continue;
        }
        if method.sig.ident == "describe" {
            has_describe = true;
            method.sig.ident = Ident::new("__wasm_mgr_describe", method.sig.ident.span());
            inherent.push(ImplItem::Fn(method));
        } else if method.sig.ident == "handle_command" {
            has_handler = true;
            method.sig.ident = Ident::new("__wasm_mgr_handle_command", method.sig.ident.span());
            inherent.push(ImplItem::Fn(method));
        } else {
            kept.push(ImplItem::Fn(method));
        }
    }
    if !has_describe {
        return Err(Error::new(
            Span::call_site(),
            "the Module block needs its `describe`: the module's name and version",
        ));
    }
    let commands = derived.iter().map(|d| &d.describe);
    let fallback = if has_handler {
        quote!(self.__wasm_mgr_handle_command(command, inbuf).await)
    } else {
        quote!(::wasm_mgr_sdk::__macro::unknown_command(command))
    };
    let body = if derived.is_empty() {
        quote!(#fallback)
    } else {
        let arms = derived.iter().map(|d| &d.dispatch);
        quote! {
            match command.prefix() {
                #(#arms)*
                _ => #fallback,
            }
        }
    };
    kept.push(syn::parse_quote! {
        fn describe(&self) -> ::wasm_mgr_sdk::ModuleInfo {
            self.__wasm_mgr_describe() #(#commands)*
        }
    });
    kept.push(syn::parse_quote! {
        async fn handle_command(
            &self,
            command: &::wasm_mgr_sdk::Command,
            inbuf: &str,
        ) -> ::wasm_mgr_sdk::CommandResult {
            let _ = inbuf;
            #body
        }
    });
    block.items = kept;
    let self_ty = &block.self_ty;
    let (impl_generics, _, where_clause) = block.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #self_ty #where_clause {
            #(#inherent)*
        }
        #block
    })
}
