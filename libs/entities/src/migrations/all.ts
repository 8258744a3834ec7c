import { Initial1795254620694 } from './1795254620694-Initial';

/** Every migration, oldest first. Append new ones; never edit one that has shipped. */
export const MIGRATIONS = [Initial1795254620694] as const;
