// Streaming .tar.gz extraction that only ever writes regular files inside the target directory:
// entries whose path would land outside it (.., absolute, drive letters, backslashes) abort the
// extraction, and links, devices and the like are skipped, so an archive cannot plant a symlink
// that a later entry writes through.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';

/** Where archive entry `name` goes under `root`; throws 'refusing archive entry ...' if it escapes. */
export function safeEntryPath(root: string, name: string): string {
  const refuse = (why: string) => new Error(`refusing archive entry '${name}': ${why} (a damaged or malicious archive); nothing was written outside the target`);
  if (name.includes('\\')) throw refuse('backslashes in the path');
  if (path.posix.isAbsolute(name) || /^[a-zA-Z]:/.test(name)) throw refuse('absolute path');
  const rel = path.posix.normalize(name);
  if (rel === '.' || rel === '..' || rel.startsWith('../')) throw refuse(`it would be written outside ${root}`);
  const full = path.join(root, rel);
  const back = path.relative(path.resolve(root), path.resolve(full));
  if (!back || back.startsWith('..') || path.isAbsolute(back)) throw refuse(`it would be written outside ${root}`);
  return full;
}

/** Unpack the regular files of a .tar.gz into `dest` (which must exist), streaming. */
export async function extractTarGz(archive: string, dest: string): Promise<void> {
  const source = fs.createReadStream(archive), gunzip = zlib.createGunzip(), extract = tar.extract();
  const fail = (e: Error) => extract.destroy(e);
  source.on('error', fail);
  gunzip.on('error', fail);
  source.pipe(gunzip).pipe(extract);
  try {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      if (type === 'file' || type === 'contiguous-file') {
        const target = safeEntryPath(dest, name);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        const out = await fs.promises.open(target, 'w');
        try {
          for await (const chunk of entry) await out.write(chunk as Buffer);
        } finally {
          await out.close();
        }
      } else {
        if (type === 'directory') safeEntryPath(dest, name);
        entry.resume();
      }
    }
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}
