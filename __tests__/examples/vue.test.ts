import { exampleSuite } from './example-suite.js';

describe('examples/vue in Chromium', () => {
  exampleSuite('vue');
});
