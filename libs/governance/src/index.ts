export * from './periods';
export * from './keys';
export * from './admission.store';
export * from './quota-counters.store';
