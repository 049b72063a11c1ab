// The registry client: auth challenges and tokens, manifests, blobs (streamed, resumable), tags.
export * from './auth.js';
export * from './client.js';
export * from './errors.js';
