// The user mapping file: validation, directory checks and the error report.
export * from './validator';
export * from './messages';
export { createDirectoryChecker, type DirectoryLookup, type DirectoryUser, type DirectoryTenants } from './directory';
export {
  REPORT_HEADER,
  ErrorReportStream,
  createErrorReportStream,
  errorReportFrom,
  parseErrorReport,
  reportLine,
  csvCell,
  neutraliseFormula,
} from './report';
