// class-transformer keeps its decorator metadata in this module and ships its types apart from its code.
declare module 'class-transformer/cjs/storage' {
  export { defaultMetadataStorage } from 'class-transformer/types/storage';
}
