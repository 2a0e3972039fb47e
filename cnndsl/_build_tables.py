"""The parser tables of grammar/cnn.lark, as lark builds them (needs lark; not on `check`'s path).

``python scripts/build_parser.py`` writes them to cnndsl/_grammar_tables.py, shipped in the package,
after every change to grammar/cnn.lark.

`cnndsl check` does not import lark: cnndsl/parser.py drives these tables itself (a contextual
lexer and an LALR(1) parser that build the syntax tree as they reduce). This script asks lark to
build its LALR parser from grammar/cnn.lark (the options in ``cnndsl.parser.GRAMMAR_OPTIONS``) and
writes out, as plain Python data, everything lark's runtime would use:

- the terminals (name and regular expression) in lark's lexer order, the ignored ones, and per
  parser state the terminals its contextual lexer tries, in order (with lark's "unless" table: a
  string terminal that a regular expression also matches, such as `-` inside ADD_OP);
- the LALR action and goto table, its start and end states;
- per rule: its origin, its length, the name its tree is built under (the alias or the rule's
  name), whether it is a `?rule` that passes a single child up, and lark's child filter (which
  children are kept, which inlined rules are spliced in, where `[x]` placeholders go).

The module also holds the grammar's text: when grammar/cnn.lark differs from it (an edit not
followed by this script), cnndsl builds the same tables from the grammar with lark at run time, and
tests/test_parser_tables.py fails until the script is run again. Lark's table construction is not
the same from run to run (state numbers differ), so the tests compare what cnndsl's parser does with
what lark's parser, built from the grammar, does.
"""
from __future__ import annotations

# lark's options for cnndsl's grammar (cnndsl.parser's reference parser uses them too)
GRAMMAR_OPTIONS = dict(parser="lalr", propagate_positions=True, start=["start", "test"], maybe_placeholders=True)




def tables(text: str) -> dict:
    """The tables of ``text`` (a lark grammar), as built by the installed lark."""
    import lark
    from lark.lexer import UnlessCallback
    from lark.parse_tree_builder import (ChildFilterLALR, ChildFilterLALR_NoPlaceholders,
                                         maybe_create_child_filter)
    from lark.parsers.lalr_analysis import Shift
    options = GRAMMAR_OPTIONS
    p = lark.Lark(text, **options)
    frontend = p.parser
    table = frontend.parser.parser.parse_table
    assert sorted(table.states) == list(range(len(table.states)))

    # lexers: lark's root order over every terminal; per distinct lexer its scanner's order and unless table
    root = frontend.lexer.root_lexer
    all_terms = sorted(p.terminals, key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
    assert [t.name for t in all_terms] == [t.name for t in root.terminals]
    lexers, index = [], {}

    def describe(lexer) -> int:
        key = id(lexer)
        if key not in index:
            scanner = lexer.scanner       # builds lark's scanner and its callbacks
            unless = {}
            for name, cb in lexer.callback.items():
                if isinstance(cb, UnlessCallback):
                    unless[str(name)] = {t.pattern.value: str(t.name) for t in reversed(cb.scanner.terminals)}
                else:
                    assert name in lexer.user_callbacks, name    # a callback of ours (TERNARY_IF), nothing chained
            index[key] = len(lexers)
            lexers.append((tuple(str(t.name) for t in scanner.terminals), unless))
        return index[key]

    describe(root)   # lexer 0: the root lexer (every terminal), for error messages and `cnndsl fmt`
    state_lexer = tuple(describe(frontend.lexer.lexers[s]) for s in range(len(table.states)))

    rules = []
    for r in p.rules:
        f = maybe_create_child_filter(r.expansion, r.options.keep_all_tokens, False,
                                      r.options.empty_indices if options.get("maybe_placeholders") else None)
        if f is None:
            include, append_none = None, 0
        elif f.func is ChildFilterLALR:
            include, append_none = tuple((i, bool(x), n) for i, x, n in f.args[0]), f.args[1]
        else:
            assert f.func is ChildFilterLALR_NoPlaceholders
            include, append_none = tuple((i, bool(x), 0) for i, x in f.args[0]), 0
        name = r.alias or r.options.template_source or r.origin.name
        inline = r.origin.name.startswith("_")
        expand1 = bool(r.options.expand1 and not r.alias)
        assert not (inline and expand1), r
        rules.append((str(r.origin.name), len(r.expansion), str(name), expand1, inline, include, append_none))
    # actions: a shift is the state shifted to (>= 0); a reduction by a `?rule` of one symbol that passes its
    # child up untouched is the rule's name (only the state changes); any other reduction is -1 - rule
    states = []
    for s in range(len(table.states)):
        row = {}
        for sym, (action, arg) in table.states[s].items():
            if action is Shift:
                row[str(sym)] = arg
            else:
                origin, size, _name, expand1, _inline, include, _nones = rules[rule_index(p, arg)]
                row[str(sym)] = origin if expand1 and size == 1 and include is None else -1 - rule_index(p, arg)
        states.append(row)
    return {
        "grammar": text,
        "lark_version": lark.__version__,
        "terminals": tuple((str(t.name), t.pattern.to_regexp()) for t in all_terms),
        "ignore": tuple(sorted(map(str, p.ignore_tokens))),
        "lexers": tuple(lexers),
        "state_lexer": state_lexer,
        "states": tuple(states),
        "rules": tuple(rules),
        "start": {str(k): (table.start_states[k], table.end_states[k]) for k in table.start_states},
    }


def rule_index(p, rule) -> int:
    cache = p.__dict__.setdefault("_cnndsl_rule_index", {id(r): i for i, r in enumerate(p.rules)})
    return cache[id(rule)]


def render(text: str) -> str:
    """The module cnndsl/_grammar_tables.py for the grammar ``text``."""
    t = tables(text)
    out = ['"""Parser tables of grammar/cnn.lark, generated by scripts/build_parser.py with lark '
           f'{t["lark_version"]}; don\'t edit."""', "# fmt: off"]
    for key in ("grammar", "terminals", "ignore", "lexers", "state_lexer", "states", "rules", "start"):
        out.append(f"{key.upper()} = {t[key]!r}")
    return "\n".join(out) + "\n"
