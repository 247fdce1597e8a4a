import { exampleSuite } from './example-suite.js';
import { reactQueryTests } from './react-query-suite.js';

describe('examples/react in Chromium', () => {
  reactQueryTests(exampleSuite('react'));
});
