export * from './entities.js';
export * from './executor/index.js';
