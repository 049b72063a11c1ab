import type { FastifyInstance } from 'fastify';
import type { UiDeps } from '../context.js';
import { accountPages } from './account.js';
import { adminPages } from './admin.js';
import { dashboardPages } from './dashboard.js';
import { explorePages } from './explore.js';
import { gcPages } from './gc.js';
import { lifecyclePages } from './lifecycle.js';
import { managePages } from './manage.js';
import { orgPages } from './orgs.js';
import { repositoryPages } from './repository.js';

/** The UI's page modules, registered in this order. */
export const UI_PAGES: ((app: FastifyInstance, deps: UiDeps) => Promise<void>)[] = [
  accountPages,
  explorePages,
  repositoryPages,
  managePages,
  orgPages,
  adminPages,
  lifecyclePages,
  dashboardPages,
  gcPages,
];
