// engine/, kernels/ and model/ run in a page as well as in Node: none of their files may import a
// Node-only module statically (node:*, a Node builtin, Dawn's `webgpu`, a package that needs Node), nor
// may any file the browser entry (index.web.ts) pulls in. Dynamic import() is allowed: engine/device.ts
// loads `webgpu` that way, only where there is no navigator.gpu. Type-only imports vanish at build time.
// Also catches the bare `process` global there (a page has none: read it through engine/env.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const NEUTRAL_DIRS = ['engine', 'kernels', 'model'];
/** Packages that run in a browser as they are. */
const BROWSER_SAFE = new Set(['gl-matrix']);

const tsFiles = (dir: string): string[] => readdirSync(dir).sort().flatMap((f) => {
  const p = join(dir, f);
  return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
});

/** Static, value-level module specifiers of a file (import/export ... from, import 'x', import = require). */
function staticImports(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const out: string[] = [];
  for (const s of src.statements) {
    if (ts.isImportDeclaration(s)) {
      const c = s.importClause;
      const b = c?.namedBindings;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!b && ts.isNamedImports(b) && b.elements.length > 0 && b.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) out.push((s.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(s) && s.moduleSpecifier && !s.isTypeOnly) {
      out.push((s.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isImportEqualsDeclaration(s) && ts.isExternalModuleReference(s.moduleReference)) {
      out.push((s.moduleReference.expression as ts.StringLiteral).text);
    }
  }
  return out;
}

/** Why `spec` cannot be in a browser bundle, or null. */
function nodeOnly(spec: string): string | null {
  if (spec.startsWith('.')) return null;
  if (spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]!)) return 'a Node builtin';
  if (spec === 'webgpu') return "Dawn's Node binding (load it with a dynamic import(), as engine/device.ts does)";
  const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
  return BROWSER_SAFE.has(pkg) ? null : 'a package not known to run in a browser (list it in BROWSER_SAFE if it does)';
}

const NODE_GLOBALS = new Set(['process', 'Buffer', '__dirname', '__filename', 'require']);

/** Uses of a Node global as a value of its own (`process.env`, `require(...)`), not as a property name. */
function nodeGlobals(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n) && NODE_GLOBALS.has(n.text)) {
      const p = n.parent;
      if ((ts.isPropertyAccessExpression(p) || ts.isElementAccessExpression(p) || ts.isCallExpression(p)) && p.expression === n) out.push(n.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

function violations(file: string): string[] {
  const out = staticImports(file).flatMap((m) => { const why = nodeOnly(m); return why ? [`${file}: imports '${m}', ${why}`] : []; });
  for (const g of new Set(nodeGlobals(file))) out.push(`${file}: uses the Node global '${g}' (a page has none; read process through engine/env.ts)`);
  return out;
}

/** Every file index.web.ts reaches through relative static imports. */
function reachable(entry: string): string[] {
  const seen = new Set<string>();
  const walk = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const m of staticImports(f)) if (m.startsWith('.')) walk(resolve(dirname(f), m));
  };
  walk(resolve(entry));
  return [...seen].map((f) => relative(process.cwd(), f)).sort();
}

test('engine/, kernels/, model/ import nothing Node-only statically', () => {
  const bad = NEUTRAL_DIRS.flatMap(tsFiles).flatMap(violations);
  assert.ok(bad.length === 0, `Node-only imports in platform-neutral folders:\n  ${bad.join('\n  ')}`);
});

test('every file the browser entry reaches is platform-neutral', () => {
  const files = reachable('index.web.ts');
  assert.ok(files.includes(join('engine', 'device.ts')) && files.includes(join('model', 'shufflenet.ts')), `walk found too little: ${files.join(', ')}`);
  const bad = files.flatMap(violations);
  assert.ok(bad.length === 0, `Node-only imports reached from index.web.ts:\n  ${bad.join('\n  ')}`);
});

// the scanner itself: each form of a Node-only import is caught, type-only ones and dynamic import() are not
test('the scan catches each form of Node-only import and passes the allowed ones', () => {
  const dir = join(process.env.TMPDIR ?? '/tmp', `neutral-scan-${process.pid}`);
  const f = join(dir, 'x.ts');
  const cases: [string, boolean][] = [
    ["import { readFile } from 'node:fs/promises';", true],
    ["import * as path from 'path';", true],
    ["import { create } from 'webgpu';", true],
    ["export { PNG } from 'pngjs';", true],
    ["import 'node:process';", true],
    ["const e = process.env.X;", true],
    ["import type { Stats } from 'node:fs';", false],
    ["import { type Stats } from 'node:fs';", false],
    ["const m = await import('webgpu');", false],
    ["import { mat2d } from 'gl-matrix';", false],
    ["import { Tensor } from '../engine/index.ts';", false],
    ["const e = (globalThis as { process?: { env: object } }).process?.env;", false],
    ["const b = Buffer.from([1]);", true],
    ["// process.env in a comment", false],
  ];
  ts.sys.createDirectory(dir);
  try {
    for (const [line, bad] of cases) {
      ts.sys.writeFile(f, line + '\n');
      assert.is(violations(f).length > 0, bad, `${line} should ${bad ? '' : 'not '}be flagged`);
    }
  } finally {
    ts.sys.deleteFile?.(f);
  }
});

test.run();
