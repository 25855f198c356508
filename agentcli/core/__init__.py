"""The core: records, errors, run events and the interfaces (``typing.Protocol``) that the
services need from a model and a store. It imports no driver, SDK or UI package."""
