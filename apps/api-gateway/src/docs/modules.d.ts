// Declarations of the untyped module entry points the API docs use.
// class-transformer ships the runtime of its metadata storage at cjs/storage and its types at types/storage.
declare module 'class-transformer/cjs/storage' {
  export { defaultMetadataStorage } from 'class-transformer/types/storage';
}

// swagger-ui-dist ships no types; this entry point returns the folder of its built assets (its main entry point
// would also load the browser bundle into the server).
declare module 'swagger-ui-dist/absolute-path.js' {
  export default function getAbsoluteFSPath(): string;
}
