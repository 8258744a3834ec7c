// Declarations of the untyped module entry points the API docs use.
// class-transformer ships the runtime of its metadata storage at cjs/storage and its types at types/storage.
declare module 'class-transformer/cjs/storage' {
  export { defaultMetadataStorage } from 'class-transformer/types/storage';
}

// swagger-ui-dist ships no types; the one function used here returns the folder of its built assets.
declare module 'swagger-ui-dist' {
  export function getAbsoluteFSPath(): string;
}
