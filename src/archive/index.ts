export {
  CODECS,
  type Compression,
  type CompressionFormat,
  DecompressError,
  type Decompressor,
  decompress,
  detectAndDecompress,
  detectCompression,
  MAGIC_LENGTH,
  TOOLS,
} from './compression.js';
export { LayerError, TarFormatError, UnsafeLayerError } from './errors.js';
export { type ExtractOptions, type ExtractStats, extractLayer } from './extract.js';
