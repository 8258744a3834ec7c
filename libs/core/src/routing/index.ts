export * from './tokens';
export * from './media-tokens';
export * from './image-tokens';
export * from './candidates';
export * from './policies';
export * from './backoff';
export * from './circuit';
export * from './request-needs';
