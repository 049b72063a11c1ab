import type { Descriptor } from '../oci/manifest.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const NODE_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le' };

/** The platform this process runs on, in OCI terms (`linux/amd64`, `linux/arm64/v8`). */
export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  return normalizePlatform({ os: 'linux', architecture });
}

/** containerd's Normalize for the cases that matter here: arm64 → v8, arm → v7. */
export function normalizePlatform(p: Platform): Platform {
  if (p.architecture === 'aarch64') return normalizePlatform({ ...p, architecture: 'arm64' });
  if (p.architecture === 'arm64' && (p.variant === undefined || p.variant === '8')) return { ...p, variant: 'v8' };
  if (p.architecture === 'arm' && p.variant === undefined) return { ...p, variant: 'v7' };
  return p;
}

/** `os/arch[/variant]`, as given to --platform. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !architecture || (parts.length === 3 && !variant)) {
    throw new Error(`"${text}": unknown operating system or architecture: invalid argument`);
  }
  return normalizePlatform({ os, architecture, ...(variant ? { variant } : {}) });
}

export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Architectures (and variants) a platform can also run, best first (containerd's platforms.Only). */
function compatible(p: Platform): Platform[] {
  const list: Platform[] = [p];
  if (p.architecture === 'amd64') list.push({ os: p.os, architecture: '386' });
  if (p.architecture === 'arm64') {
    for (const v of ['v8', 'v7', 'v6', 'v5']) list.push({ os: p.os, architecture: 'arm', variant: v });
  }
  if (p.architecture === 'arm' && p.variant) {
    const n = Number(p.variant.slice(1));
    for (let v = n - 1; v >= 5; v--) list.push({ os: p.os, architecture: 'arm', variant: `v${v}` });
  }
  return list;
}

function matches(want: Platform, have: Platform): boolean {
  const h = normalizePlatform(have);
  if (h.os !== want.os || h.architecture !== want.architecture) return false;
  return want.variant === undefined || h.variant === undefined || h.variant === want.variant;
}

/** The best entry of an index for `want`, or an error in Docker's wording. */
export function selectManifest(entries: readonly Descriptor[], want: Platform): Descriptor {
  const candidates = compatible(want);
  let best: { rank: number; entry: Descriptor } | undefined;
  for (const entry of entries) {
    let rank: number;
    if (!entry.platform) rank = candidates.length;
    else {
      const have: Platform = {
        os: entry.platform.os,
        architecture: entry.platform.architecture,
        ...(entry.platform.variant ? { variant: entry.platform.variant } : {}),
      };
      rank = candidates.findIndex((c) => matches(c, have));
      if (rank === -1) continue;
    }
    if (!best || rank < best.rank) best = { rank, entry };
  }
  if (!best) throw new Error(`no matching manifest for ${platformString(want)} in the manifest list entries`);
  return best.entry;
}
