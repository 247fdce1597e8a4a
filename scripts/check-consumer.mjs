// Type-checks the packed package the way apps compile against it: `npm pack`, the tarball unpacked
// into throwaway projects next to axios (and, where a project is a Node one, @types/node) and
// nothing else, then `tsc` over sources that import every subpath, under strict,
// exactOptionalPropertyTypes, noUncheckedIndexedAccess and skipLibCheck: false, for each
// moduleResolution an app may use. No network: the projects link packages of this repository's
// node_modules.
//
// Run `npm run build` first (check:package does). Adding a subpath is one line in SUBPATHS.
import { execFile, execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sources = join(root, 'scripts', 'consumer', 'src');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/**
 * The subpaths checked, each with its consumer source (scripts/consumer/src), compiled in every
 * project. One that package.json does not export (yet) is skipped; one it exports and this list
 * lacks fails the check.
 */
const SUBPATHS = [
  { subpath: '.', source: 'core.ts' },
  { subpath: './browser', source: 'browser.ts' },
  { subpath: './server', source: 'server.ts' },
  { subpath: './redis', source: 'redis.ts' },
  // The bindings need their framework: checked by the projects that install it.
  { subpath: './react', source: 'react.ts', framework: true },
  { subpath: './vue', source: 'vue.ts', framework: true },
];

/** What every consumer sets; each project adds its module settings. */
const STRICT = {
  target: 'ES2022',
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  skipLibCheck: false,
  noEmit: true,
  // Only the @types a project lists, so that nothing from this repository's node_modules leaks in.
  types: [],
};

/**
 * The projects. `exts`: the extensions the sources are copied with, each copy a module of its own
 * (`.mts` and `.cts` pick the format under node16); `node`: a Node app (@types/node installed, no
 * DOM lib); `install`: packages linked besides the package and axios; `only`: the sources it
 * compiles instead of those of every exported subpath; `extra`: sources it compiles as well.
 */
const PROJECTS = [
  {
    name: 'bundler',
    exts: ['.ts'],
    extra: ['dom.ts'],
    options: { module: 'preserve', moduleResolution: 'bundler', lib: ['ES2022', 'DOM'] },
  },
  {
    // An ESM and a CommonJS consumer: `import` and `require` conditions, .d.mts and .d.ts.
    name: 'node16',
    exts: ['.mts', '.cts'],
    node: true,
    options: { module: 'node16', moduleResolution: 'node16', lib: ['ES2022'] },
  },
  {
    // node10 knows no `exports`: the subpaths resolve through typesVersions.
    name: 'node10',
    exts: ['.ts'],
    node: true,
    options: {
      module: 'commonjs',
      moduleResolution: 'node10',
      esModuleInterop: true,
      lib: ['ES2022'],
      ignoreDeprecations: '6.0',
    },
  },
  {
    // An app with React (its types too): ./react, in a bundler and under node16.
    name: 'bundler-react',
    exts: ['.ts'],
    install: ['react', '@types/react'],
    only: ['react.ts'],
    options: { module: 'preserve', moduleResolution: 'bundler', lib: ['ES2022', 'DOM'] },
  },
  {
    name: 'node16-react',
    exts: ['.mts', '.cts'],
    node: true,
    install: ['react', '@types/react'],
    only: ['react.ts'],
    options: { module: 'node16', moduleResolution: 'node16', lib: ['ES2022'] },
  },
  {
    // An app with Vue: ./vue.
    name: 'bundler-vue',
    exts: ['.ts'],
    install: ['vue'],
    only: ['vue.ts'],
    options: { module: 'preserve', moduleResolution: 'bundler', lib: ['ES2022', 'DOM'] },
  },
  {
    // The real clients, as they come, fit the structural client types of ./redis and ./server.
    name: 'node16-redis-clients',
    exts: ['.mts'],
    node: true,
    install: ['ioredis', 'redis'],
    only: ['redis-clients.ts'],
    options: { module: 'node16', moduleResolution: 'node16', lib: ['ES2022'] },
  },
];

const started = performance.now();
const exported = SUBPATHS.filter(({ subpath }) => subpath in pkg.exports);
const skipped = SUBPATHS.filter(({ subpath }) => !(subpath in pkg.exports));
let work;
try {
  const unchecked = Object.keys(pkg.exports).filter(
    (subpath) =>
      subpath !== './package.json' && !SUBPATHS.some((entry) => entry.subpath === subpath),
  );
  if (unchecked.length > 0) {
    fail(`package.json exports ${unchecked.join(', ')}, which SUBPATHS does not check`);
  }
  checkDistIsFresh();
  work = mkdtempSync(join(tmpdir(), 'axios-refresh-gate-consumer-'));
  // A node_modules above the projects would lend them packages they did not install.
  for (let dir = dirname(work); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) {
      fail(`${join(dir, 'node_modules')} is above the temporary projects; set TMPDIR elsewhere`);
    }
    if (dirname(dir) === dir) break;
  }
  const unpacked = pack(work);
  // Every project is checked, so that one run shows each resolution's errors; as many at once as
  // there are cores (each tsc is one process, mostly one thread).
  const queue = [...PROJECTS];
  const failures = [];
  const worker = async () => {
    for (let project = queue.shift(); project; project = queue.shift()) {
      const failure = await checkProject(project, unpacked);
      if (failure) failures.push(failure);
    }
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), queue.length) }, worker));
  if (failures.length > 0) fail(failures.join('\n\n'));
  const names = (entries) => entries.map(({ subpath }) => subpath).join(', ');
  console.log(
    `consumers OK: ${names(exported)} in ${PROJECTS.length} projects` +
      (skipped.length > 0 ? ` (not exported, skipped: ${names(skipped)})` : '') +
      `, ${Math.round(performance.now() - started)} ms`,
  );
} catch (error) {
  console.error(`check-consumer: ${error.message}`);
  process.exitCode = 1;
} finally {
  if (work) rmSync(work, { recursive: true, force: true });
}

/** The tarball's contents, unpacked once into `work/package`. */
function pack(dir) {
  const out = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], root);
  const [{ filename }] = JSON.parse(out);
  run('tar', ['-xzf', join(dir, filename), '-C', dir], dir);
  return join(dir, 'package');
}

async function checkProject(project, unpacked) {
  const { name, exts, node = false, install = [], only, extra = [], options } = project;
  const dir = join(work, name);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '@types'), { recursive: true });
  // A copy, not a link: tsc follows a link to its target, whose parent folders may hold packages
  // this app has not installed (ioredis, redis).
  copyTree(unpacked, join(modules, pkg.name));
  for (const dependency of ['axios', ...(node ? ['@types/node'] : []), ...install]) {
    symlinkSync(join(root, 'node_modules', dependency), join(modules, dependency), 'junction');
  }
  const checked = [
    ...(only ?? exported.filter((entry) => !entry.framework).map((entry) => entry.source)),
    ...extra,
  ];
  const files = exts.flatMap((ext) =>
    checked.map((source) => {
      const file = source.replace(/\.ts$/, ext);
      copyFileSync(join(sources, source), join(dir, file));
      return file;
    }),
  );
  const compilerOptions = { ...STRICT, ...options, types: node ? ['node'] : [] };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }, null, 2));
  // No `type`: .ts files are CommonJS under node16, the .mts and .cts ones say it themselves.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}` }));
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const begun = performance.now();
  try {
    await runAsync(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], dir);
  } catch (error) {
    console.log(`  ${name}: FAILED`);
    return `consumer ${name} (${files.join(' ')}) does not compile:\n${error.stdout ?? ''}${error.stderr ?? ''}compilerOptions: ${JSON.stringify(compilerOptions)}`;
  }
  console.log(
    `  ${name}: ${files.join(', ')} compile (${Math.round(performance.now() - begun)} ms)`,
  );
  return undefined;
}

/** Fails when a source file is newer than the build: the check would test an old dist. */
function checkDistIsFresh() {
  let built;
  try {
    built = statSync(join(root, 'dist', 'index.d.ts')).mtimeMs;
  } catch {
    fail('dist/ is missing: run `npm run build` first');
  }
  const stale = walk(join(root, 'src')).find((file) => statSync(file).mtimeMs > built);
  if (stale) fail(`${relative(root, stale)} is newer than dist/: run \`npm run build\` first`);
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

function copyTree(from, to) {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isDirectory()) copyTree(join(from, entry.name), join(to, entry.name));
    else copyFileSync(join(from, entry.name), join(to, entry.name));
  }
}

function runAsync(command, args, cwd) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, encoding: 'utf8' }, (error, stdout, stderr) =>
      error ? reject(Object.assign(error, { stdout, stderr })) : resolve(stdout),
    );
  });
}

function run(command, args, cwd) {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function fail(message) {
  throw new Error(message);
}
