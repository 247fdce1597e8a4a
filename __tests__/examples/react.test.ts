import { exampleSuite } from './example-suite.js';

describe('examples/react in Chromium', () => {
  exampleSuite('react');
});
