#!/usr/bin/env python3
"""Man pages (section 3) generated from include/aopen.h, so they cannot drift from it.

    tools/manpages.py [--header include/aopen.h] [--version V] OUTDIR
    tools/manpages.py --check OUTDIR aopen.symbols

The first form writes one page per exported function (its doc comment's summary and
sections: Parameters, Returns, Memory and lifetimes, Thread safety, Safety), one per struct
(its fields, with the AOPEN_* constants and callback types that belong to it), and
libaopen.3, the overview (the header's conventions and every function's one-line summary).
The header is cbindgen's output from src/ffi/'s doc comments: change those, run `make
header`, and the pages follow.

The second form checks OUTDIR: every symbol in aopen.symbols has a page, and each page
renders with groff and with man without a warning. Python 3 standard library only.
"""

import os
import re
import shutil
import subprocess
import sys

# Where a constant or a callback type is documented: the page of the type it belongs to.
# Anything not matched here goes to libaopen(3).
CONST_HOME = [
    ("AOPEN_OP_", "aopen_completion"),
    ("AOPEN_OPT_", "aopen_options"),
    ("AOPEN_HIST_", "aopen_stats_snapshot"),
    ("AOPEN_FSYNC_", "aopen_fsync_submit"),
]
CALLBACK_HOME = {
    "aopen_cb": "aopen_completion",
    "aopen_mount_cb": "aopen_mount_stats",
    "aopen_call_fn": "aopen_call_submit",
}
SECTION_TITLES = {
    "parameters": "PARAMETERS",
    "returns": "RETURN VALUE",
    "memory and lifetimes": "MEMORY AND LIFETIMES",
    "thread safety": "THREAD SAFETY",
    "safety": "SAFETY",
}


# ---- reading the header -------------------------------------------------------------------

def strip_comment(lines):
    """The text of a /** ... */ block (its lines without the leading ' * '), indentation
    after the star kept (list continuations)."""
    out = []
    for line in lines:
        s = line.strip()
        if s.startswith("/**"):
            s = s[3:]
        elif s.startswith("/*"):
            s = s[2:]
        if s.endswith("*/"):
            s = s[:-2]
        s = s.rstrip()
        if s.startswith("* ") or s == "*":
            s = s[2:]
        elif s.startswith("*"):
            s = s[1:]
        out.append(s)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def read_comment(lines, i):
    """The comment that starts at lines[i]: (its text, the index of the line after it)."""
    j = i
    while "*/" not in lines[j]:
        j += 1
    return strip_comment(lines[i:j + 1]), j + 1


def parse_header(text):
    """Items in header order: dicts with kind (function, struct, define, callback, opaque),
    name, doc (lines), decl (the declaration's text), and fields for structs."""
    lines = text.split("\n")
    items, i, n = [], 0, len(lines)
    banner = None
    while i < n:
        line = lines[i]
        if line.startswith("/*") and not line.startswith("/**") and banner is None:
            banner, i = read_comment(lines, i)
            continue
        if line.strip().startswith("/**"):
            doc, i = read_comment(lines, i)
            decl_start = i
            if lines[i].startswith("#define"):
                name = lines[i].split()[1]
                items.append(dict(kind="define", name=name, doc=doc, decl=lines[i].strip()))
                i += 1
            elif lines[i].startswith("typedef struct") and lines[i].rstrip().endswith("{"):
                depth, j = 0, i
                while True:
                    depth += lines[j].count("{") - lines[j].count("}")
                    if depth == 0 and lines[j].rstrip().endswith(";"):
                        break
                    j += 1
                name = re.match(r"\}\s*(\w+);", lines[j].strip()).group(1)
                items.append(dict(kind="struct", name=name, doc=doc,
                                  decl="\n".join(lines[decl_start:j + 1]),
                                  fields=parse_fields(lines[i + 1:j])))
                i = j + 1
            elif lines[i].startswith("typedef struct"):
                name = lines[i].rstrip(";").split()[-1]
                items.append(dict(kind="opaque", name=name, doc=doc, decl=lines[i].strip()))
                i += 1
            elif lines[i].startswith("typedef"):
                name = re.search(r"\(\*(\w+)\)", lines[i]).group(1)
                items.append(dict(kind="callback", name=name, doc=doc, decl=lines[i].strip()))
                i += 1
            else:
                j = i
                while not lines[j].rstrip().endswith(";"):
                    j += 1
                decl = " ".join(l.strip() for l in lines[i:j + 1])
                name = re.search(r"(\w+)\s*\(", decl).group(1)
                items.append(dict(kind="function", name=name, doc=doc, decl=decl))
                i = j + 1
            continue
        i += 1
    return banner or [], items


def parse_fields(body):
    """A struct's fields: (names, doc lines, declaration lines). A field without a doc
    comment of its own shares the one before it (cbindgen puts one comment over a pair)."""
    fields, doc, k = [], None, 0
    while k < len(body):
        s = body[k].strip()
        if s.startswith("/**"):
            doc, k = read_comment(body, k)
            continue
        if s.endswith(";"):
            name = re.search(r"(\w+)(\[[^\]]*\])?;$", s).group(1)
            if doc is None and fields:
                fields[-1][0].append(name)
                fields[-1][2].append(s)
            else:
                fields.append(([name], doc or [], [s]))
            doc = None
        k += 1
    return fields


def doc_sections(doc):
    """[(heading or None, blocks)], blocks being ('p', text) or ('list', [item, ...]) with
    each item a list of paragraphs: "- " starts an item, an indented line continues it, and
    an indented line after a blank one starts a new paragraph of that item."""
    sections, heading, blocks = [], None, []
    para, items, blank = [], None, False

    def end_para():
        nonlocal para
        if para:
            blocks.append(("p", " ".join(para)))
            para = []

    def end_list():
        nonlocal items
        if items is not None:
            blocks.append(("list", items))
            items = None

    for line in doc:
        if line.startswith("# "):
            end_para()
            end_list()
            sections.append((heading, blocks))
            heading, blocks, blank = line[2:].strip(), [], False
        elif not line.strip():
            end_para()
            blank = True
        elif line.startswith("- "):
            end_para()
            if items is None:
                items = []
            items.append([line[2:].strip()])
            blank = False
        elif items is not None and line.startswith("  "):
            if blank:
                items[-1].append(line.strip())
            else:
                items[-1][-1] += " " + line.strip()
            blank = False
        else:
            end_list()
            para.append(line.strip())
            blank = False
    end_para()
    end_list()
    sections.append((heading, blocks))
    return sections


# ---- roff ------------------------------------------------------------------------------------

def esc(text):
    """Plain text for roff: backslashes, a minus before a digit or capital (-EINVAL, -1),
    anything not ASCII as a named glyph."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"(?<![\w-])-(?=[A-Z0-9])", r"\\-", text)
    return "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)


def inline(text):
    """Markdown-ish doc text to roff: `code` bold, *word* italic."""
    out = []
    for k, part in enumerate(text.split("`")):
        if k % 2:
            out.append("\\fB" + esc(part).replace("-", "\\-") + "\\fR")
        else:
            part = esc(part)
            part = re.sub(r"(?<![\w*])\*(\w[^*]*?\w|\w)\*(?![\w*])", r"\\fI\1\\fR", part)
            out.append(part)
    return "".join(out)


def fill(text, width=78):
    """Roff source lines of one filled paragraph: broken at spaces, never starting with a
    control character."""
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    if cur:
        lines.append(cur)
    return [("\\&" + l) if l[0] in ".'" else l for l in lines]


def tag_of(item):
    """The tag of a list item that names what it describes ("`fd`: ...", "-EALREADY: ..."):
    (tag, rest), or None for a plain bullet."""
    m = re.match(r"^((?:`[^`]+`(?:, | or | and )?)+):\s+(.*)$", item)
    if m:
        return inline(m.group(1)), m.group(2)
    m = re.match(r"^(-?[A-Z0-9]+):\s+(.*)$", item)
    if m:
        return esc(m.group(1)), m.group(2)
    return None


def render_blocks(blocks):
    out = []
    for kind, body in blocks:
        if kind == "p":
            out.append(".PP")
            out += fill(inline(body))
        else:
            for item in body:
                tagged = tag_of(item[0])
                if tagged:
                    out.append(".TP")
                    out.append(("\\&" if tagged[0][0] in ".'" else "") + tagged[0])
                    out += fill(inline(tagged[1]))
                else:
                    out.append(".IP \\(bu 2")
                    out += fill(inline(item[0]))
                for more in item[1:]:
                    out.append(".IP")
                    out += fill(inline(more))
            out.append(".PP")
    while out and out[-1] == ".PP":
        out.pop()
    return out


def first_sentence(doc):
    text = []
    for line in doc:
        if not line.strip() or line.startswith("#"):
            break
        text.append(line.strip())
    text = " ".join(text)
    m = re.match(r"(.+?[.:])(\s|$)", text)
    s = (m.group(1) if m else text).rstrip(".:").replace("`", "")
    return s[0].lower() + s[1:] if s[:2] != s[:2].upper() else s


def mentions(doc, pages, own):
    names = set(re.findall(r"`(a(?:open|close)_\w+)", "\n".join(doc)))
    return sorted(n for n in names if n in pages and n != own)


def th(name, version):
    return [f'.TH {name.upper()} 3 "" "libaopen {version}" "libaopen Manual"']


def synopsis_function(decl):
    m = re.match(r"^(.*?)\b(\w+)\((.*)\);$", decl)
    ret, name, params = m.group(1).strip(), m.group(2), m.group(3)
    head = f"{ret} {name}(" if not ret.endswith("*") else f"{ret}{name}("
    out = [".nf", ".B #include <aopen.h>", ".PP"]
    ps = [p.strip() for p in params.split(",")]
    if ps == ["void"]:
        out.append(f'.B "{head}void);"')
    else:
        pad = " " * len(head)
        for k, p in enumerate(ps):
            pm = re.match(r"^(.*?)(\w+)$", p)
            ptype, pname = pm.group(1), pm.group(2)
            lead = head if k == 0 else pad
            end = ");" if k == len(ps) - 1 else ","
            out.append(f'.BI "{lead}{ptype}" {pname} "{end}"')
    out += [".fi", ".PP", "Link with \\fI\\-laopen\\fP."]
    return out


def synopsis_struct(decl):
    out = [".nf", ".B #include <aopen.h>", ".PP"]
    for line in decl.split("\n"):
        s = line.strip()
        if s.startswith(("/**", "*", "*/")) or not s:
            continue
        indent = "    " if not s.startswith(("typedef", "}")) else ""
        out.append(("\\&" if s[0] in ".'" else "") + indent + esc(s))
    out.append(".fi")
    return out


def see_also(names):
    names = list(names) + ["libaopen"]
    return [".SH SEE ALSO"] + [f".BR {n} (3){',' if k < len(names) - 1 else ''}"
                               for k, n in enumerate(names)]


def function_page(item, pages, extras, version):
    out = th(item["name"], version)
    out += [".SH NAME", f"{item['name']} \\- {esc(first_sentence(item['doc']))}"]
    out += [".SH SYNOPSIS"] + synopsis_function(item["decl"])
    for heading, blocks in doc_sections(item["doc"]):
        title = "DESCRIPTION" if heading is None else SECTION_TITLES.get(heading.lower(), heading.upper())
        if blocks:
            out += [f".SH {title}"] + render_blocks(blocks)
    out += extras_section(extras)
    out += see_also(mentions(item["doc"], pages, item["name"]))
    return out


def extras_section(extras):
    """The constants and callback types documented on this page."""
    out = []
    defines = [e for e in extras if e["kind"] == "define"]
    callbacks = [e for e in extras if e["kind"] == "callback"]
    if defines:
        out.append(".SH CONSTANTS")
        for d in defines:
            value = d["decl"].split()[2] if len(d["decl"].split()) > 2 else ""
            out += [".TP", f"\\fB{d['name']}\\fR ({esc(value)})"]
            out += fill(inline(" ".join(l.strip() for l in d["doc"])))
    if callbacks:
        out.append(".SH CALLBACK TYPES")
        for c in callbacks:
            out += [".PP", ".nf", esc(c["decl"]), ".fi"]
            out += [".RS"] + fill(inline(" ".join(l.strip() for l in c["doc"]))) + [".RE"]
    return out


def struct_page(item, pages, extras, version):
    out = th(item["name"], version)
    out += [".SH NAME", f"{item['name']} \\- {esc(first_sentence(item['doc']))}"]
    out += [".SH SYNOPSIS"] + synopsis_struct(item["decl"])
    out += [".SH DESCRIPTION"] + render_blocks(doc_sections(item["doc"])[0][1])
    out.append(".SH FIELDS")
    docs = list(item["doc"])
    for names, doc, _decl in item["fields"]:
        out += [".TP", ", ".join(f"\\fB{n}\\fR" for n in names)]
        text = " ".join(l.strip() for l in doc) if doc else "Reserved."
        out += fill(inline(text))
        docs += doc
    out += extras_section(extras)
    for e in extras:
        docs += e["doc"]
    out += see_also(mentions(docs, pages, item["name"]))
    return out


def overview_page(banner, items, version):
    out = th("libaopen", version)
    out += [".SH NAME", "libaopen \\- asynchronous file calls (open, close, read, write, stat, ...) "
            "for event loops"]
    out += [".SH SYNOPSIS", ".nf", ".B #include <aopen.h>", ".fi", ".PP",
            "Link with \\fI\\-laopen\\fP (\\fBpkg\\-config \\-\\-libs aopen\\fP)."]
    out.append(".SH DESCRIPTION")
    paras, cur = [], []
    for line in banner[1:]:
        if not line.strip():
            if cur:
                paras.append(" ".join(cur))
            cur = []
        elif "do not edit" not in line and "make header" not in line:
            cur.append(line.strip())
    if cur:
        paras.append(" ".join(cur))
    for p in [p for p in paras if p]:
        out.append(".PP")
        out += fill(inline(p))
    out.append(".SH FUNCTIONS")
    for it in items:
        if it["kind"] == "function":
            out += [".TP", f".BR {it['name']} (3)"] + fill(esc(first_sentence(it["doc"])) + ".")
    out.append(".SH TYPES")
    for it in items:
        if it["kind"] == "struct":
            out += [".TP", f".BR {it['name']} (3)"] + fill(esc(first_sentence(it["doc"])) + ".")
    homeless = [it for it in items if it.get("home") == "libaopen"]
    out += extras_section(homeless)
    out += [".SH SEE ALSO", "The guides in the source tree's \\fIdocs/\\fP directory:",
            "\\fIc\\-guide.md\\fP (event loops, ownership, fork, cancellation),",
            "\\fIhung\\-filesystems.md\\fP, \\fIperformance.md\\fP, \\fItesting.md\\fP."]
    return out


def generate(header, outdir, version):
    with open(header) as f:
        banner, items = parse_header(f.read())
    pages = {it["name"] for it in items if it["kind"] in ("function", "struct")}
    for it in items:
        if it["kind"] == "define":
            it["home"] = next((h for p, h in CONST_HOME if it["name"].startswith(p)), "libaopen")
        elif it["kind"] == "callback":
            it["home"] = CALLBACK_HOME.get(it["name"], "libaopen")
        if it.get("home") not in (None, "libaopen") and it["home"] not in pages:
            it["home"] = "libaopen"
    os.makedirs(outdir, exist_ok=True)
    written = []
    for it in items:
        extras = [e for e in items if e.get("home") == it["name"]]
        if it["kind"] == "function":
            lines = function_page(it, pages, extras, version)
        elif it["kind"] == "struct":
            lines = struct_page(it, pages, extras, version)
        else:
            continue
        written.append(write(outdir, it["name"], lines, header))
    written.append(write(outdir, "libaopen", overview_page(banner, items, version), header))
    print(f"manpages: {len(written)} pages in {outdir} "
          f"({sum(it['kind'] == 'function' for it in items)} functions, "
          f"{sum(it['kind'] == 'struct' for it in items)} types, and libaopen.3)")
    return 0


def write(outdir, name, lines, header):
    path = os.path.join(outdir, f"{name}.3")
    with open(path, "w") as f:
        f.write(f'.\\" Generated by tools/manpages.py from {header}: do not edit.\n')
        f.write("\n".join(lines) + "\n")
    return path


# ---- the check -------------------------------------------------------------------------------

def check(outdir, symbols):
    with open(symbols) as f:
        names = [l.strip() for l in f if l.strip()]
    missing = [n for n in names if not os.path.isfile(os.path.join(outdir, f"{n}.3"))]
    pages = sorted(p for p in os.listdir(outdir) if p.endswith(".3"))
    problems = [f"no page for {n}" for n in missing]
    have_man = shutil.which("man") is not None
    have_groff = shutil.which("groff") is not None
    if not have_groff:
        problems.append("groff is not installed (Debian: groff-base)")
    if not have_man:
        problems.append("man is not installed (Debian: man-db)")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="0")
    for p in pages:
        path = os.path.join(outdir, p)
        if have_groff:
            r = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True, text=True)
            if r.returncode or r.stderr.strip():
                problems.append(f"groff {p}: {r.stderr.strip() or r.returncode}")
        if have_man:
            r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True, env=env)
            if r.returncode or r.stderr.strip():
                problems.append(f"man {p}: {r.stderr.strip() or r.returncode}")
            elif len(r.stdout.splitlines()) < 8:
                problems.append(f"man {p}: renders to almost nothing")
    for line in problems:
        print(f"FAIL check-man: {line}")
    if problems:
        return 1
    print(f"PASS check-man: {len(pages)} pages, every one of the {len(names)} symbols in "
          f"{symbols} has one; groff -ww and man --warnings: no warnings")
    return 0


def main(argv):
    args = argv[1:]
    if args[:1] == ["--check"] and len(args) == 3:
        return check(args[1], args[2])
    header, version = "include/aopen.h", "0"
    while args and args[0].startswith("--"):
        if args[0] == "--header":
            header, args = args[1], args[2:]
        elif args[0] == "--version":
            version, args = args[1], args[2:]
        else:
            break
    if len(args) != 1:
        sys.stderr.write(__doc__)
        return 2
    return generate(header, args[0], version)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
