// Templates and the stylesheet are read from the package at run time: they live next to this
// module's sources (src/server/ui/{views,static}) whether it runs from src (tests) or dist.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function packageRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('the wharf package root (package.json) was not found');
    dir = up;
  }
  return dir;
}

const uiDir = join(packageRoot(), 'src', 'server', 'ui');
export const VIEWS_DIR = join(uiDir, 'views');
export const STATIC_DIR = join(uiDir, 'static');
